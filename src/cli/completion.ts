/**
 * `oq completion bash|zsh|fish`: shell completion scripts generated from the command tree
 * (so they never drift from the real flags).
 *
 * @module
 */

import { usageError } from "./errors.ts";
import { out } from "./io.ts";
import { examples, type Program } from "./program.ts";

/** The part of a commander command the generator reads. */
interface Node {
  name(): string;
  description(): string;
  readonly options: ReadonlyArray<
    {
      long?: string;
      short?: string;
      description: string;
      required: boolean;
      optional: boolean;
      hidden?: boolean;
    }
  >;
  readonly commands: ReadonlyArray<Node>;
}

interface Flat {
  /** `""` for the root, `submit`, `schedule create`. */
  path: string;
  node: Node;
}

function flatten(root: Node): Flat[] {
  const all: Flat[] = [{ path: "", node: root }];
  for (const c of root.commands) {
    all.push({ path: c.name(), node: c });
    for (const s of c.commands) all.push({ path: `${c.name()} ${s.name()}`, node: s });
  }
  return all;
}

function flags(n: Node): string[] {
  return n.options.filter((o) => !o.hidden).flatMap((o) =>
    [o.long, o.short].filter((x): x is string => !!x)
  );
}

function valueFlags(root: Node): string[] {
  const set = new Set<string>();
  for (const { node } of flatten(root)) {
    for (const o of node.options) {
      if (o.required || o.optional) { for (const f of [o.long, o.short]) if (f) set.add(f); }
    }
  }
  return [...set].sort();
}

const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The bash completion script (also used by zsh through bashcompinit if preferred). */
export function bashCompletion(root: Node): string {
  const globalFlags = flags(root);
  const cases = flatten(root).map(({ path, node }) => {
    const words = [
      ...node.commands.map((c) => c.name()),
      ...flags(node),
      ...(path ? globalFlags : []),
      "--help",
    ];
    return `    ${sq(path)}) opts=${sq([...new Set(words)].join(" "))} ;;`;
  });
  return `# bash completion for oq. Install: oq completion bash > /etc/bash_completion.d/oq
# (or: source <(oq completion bash) in ~/.bashrc)
_oq() {
  local cur=\${COMP_WORDS[COMP_CWORD]} path="" i w skip=0 opts=""
  local valued=" ${valueFlags(root).join(" ")} "
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=\${COMP_WORDS[i]}
    if [ $skip = 1 ]; then skip=0; continue; fi
    case "$w" in
      --*=*) ;;
      -*) [[ $valued == *" $w "* ]] && skip=1 ;;
      *) case "$path" in "" | schedule) path=\${path:+$path }$w ;; esac ;;
    esac
  done
  [ $skip = 1 ] && { COMPREPLY=(); compopt -o default 2>/dev/null; return; }
  case "$path" in
${cases.join("\n")}
  esac
  COMPREPLY=($(compgen -W "$opts" -- "$cur"))
}
complete -o default -F _oq oq
`;
}

const zq = (s: string) => s.replace(/\\/g, "\\\\").replace(/:/g, "\\:").replace(/'/g, "'\\''");

/** The zsh completion script (`#compdef oq`). */
export function zshCompletion(root: Node): string {
  const globalFlags = root.options.filter((o) => o.long);
  const cases = flatten(root).map(({ path, node }) => {
    const cmds = node.commands.map((c) => `'${zq(c.name())}:${zq(c.description())}'`);
    const opts = [...node.options, ...(path ? globalFlags : [])].filter((o) => o.long && !o.hidden)
      .map((o) => `'${zq(o.long!)}:${zq(o.description)}'`);
    return `    ${sq(path)})\n      cmds=(${cmds.join(" ")})\n      opts=(${opts.join(" ")}) ;;`;
  });
  return `#compdef oq
# zsh completion for oq. Install: oq completion zsh > "\${fpath[1]}/_oq" (then restart zsh)
_oq() {
  local path_="" i w skip=0
  local -a cmds opts
  local valued=" ${valueFlags(root).join(" ")} "
  for ((i = 2; i < CURRENT; i++)); do
    w=\${words[i]}
    if (( skip )); then skip=0; continue; fi
    case "$w" in
      --*=*) ;;
      -*) [[ $valued == *" $w "* ]] && skip=1 ;;
      *) case "$path_" in "" | schedule) path_=\${path_:+$path_ }$w ;; esac ;;
    esac
  done
  if (( skip )); then _files; return; fi
  case "$path_" in
${cases.join("\n")}
  esac
  if [[ \${words[CURRENT]} == -* ]]; then
    _describe -t options 'option' opts
  else
    (( \${#cmds} )) && _describe -t commands 'command' cmds || _files
  fi
}
compdef _oq oq
`;
}

/** The fish completion script. */
export function fishCompletion(root: Node): string {
  const lines = [
    "# fish completion for oq. Install: oq completion fish > ~/.config/fish/completions/oq.fish",
    "complete -c oq -f",
  ];
  const opt = (cond: string, o: Node["options"][number]) => {
    const parts = ["complete -c oq"];
    if (cond) parts.push(`-n ${sq(cond)}`);
    if (o.long) parts.push(`-l ${o.long.replace(/^--/, "")}`);
    if (o.short) parts.push(`-s ${o.short.replace(/^-/, "")}`);
    if (o.required || o.optional) parts.push("-r -F");
    parts.push(`-d ${sq(o.description)}`);
    return parts.join(" ");
  };
  for (const o of root.options) if (!o.hidden) lines.push(opt("", o));
  for (const c of root.commands) {
    lines.push(
      `complete -c oq -n '__fish_use_subcommand' -a ${c.name()} -d ${sq(c.description())}`,
    );
    const inC = `__fish_seen_subcommand_from ${c.name()}`;
    for (const o of c.options) if (!o.hidden) lines.push(opt(inC, o));
    if (c.commands.length > 0) {
      const subs = c.commands.map((s) => s.name()).join(" ");
      for (const s of c.commands) {
        lines.push(
          `complete -c oq -n ${
            sq(`${inC}; and not __fish_seen_subcommand_from ${subs}`)
          } -a ${s.name()} -d ${sq(s.description())}`,
        );
        for (const o of s.options) {
          if (!o.hidden) lines.push(opt(`${inC}; and __fish_seen_subcommand_from ${s.name()}`, o));
        }
      }
    }
  }
  return `${lines.join("\n")}\n`;
}

/** Register `oq completion`. */
export function registerCompletion(program: Program): void {
  program.command("completion")
    .description("Print a shell completion script: bash, zsh or fish")
    .argument("<shell>", "bash, zsh or fish")
    .addHelpText(
      "after",
      examples(
        "oq completion bash > /etc/bash_completion.d/oq    # or: source <(oq completion bash)",
        'oq completion zsh > "${fpath[1]}/_oq"                    # zsh',
        "oq completion fish > ~/.config/fish/completions/oq.fish   # fish",
      ),
    )
    .action((shell) => {
      const root = program as unknown as Node;
      if (shell === "bash") out(bashCompletion(root));
      else if (shell === "zsh") out(zshCompletion(root));
      else if (shell === "fish") out(fishCompletion(root));
      else throw usageError(`Unknown shell ${JSON.stringify(shell)}: bash, zsh or fish`);
    });
}
