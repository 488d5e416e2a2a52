/**
 * The portable half of the runtime adapter: what the library itself (queue, worker, monitor,
 * scheduler, S3 client, console) needs from its host, through web-standard globals only.
 * It imports no `node:*`, Deno or Bun module, statically or dynamically, so bundling `mod.ts`
 * for a browser or a Worker (`esbuild --platform=browser`, `bun build --target browser`) needs
 * no externals and no shims. Files, processes and HTTP servers (the CLI, `oq dev`, tests) live
 * in `src/runtime/mod.ts`, which re-exports this module.
 *
 * @module
 */

/** The JavaScript runtime oq is running on (`"workerd"` is Cloudflare Workers' runtime). */
export type RuntimeName = "deno" | "bun" | "node" | "workerd" | "browser";

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

/**
 * Detect the current runtime (one function, used everywhere). workerd is checked before Node:
 * with the `nodejs_compat` flag it provides `process` too, but its user agent is
 * `Cloudflare-Workers`.
 */
export function runtimeName(): RuntimeName {
  if (typeof g.Deno?.version?.deno === "string") return "deno";
  if (typeof g.Bun?.version === "string") return "bun";
  if (g.navigator?.userAgent === "Cloudflare-Workers") return "workerd";
  if (typeof g.process?.versions?.node === "string") return "node";
  return "browser";
}

/**
 * Let a timer not keep the process alive by itself (Node/Bun `unref`, `Deno.unrefTimer`;
 * nothing elsewhere). Used for timers that only matter while something else runs.
 */
export function unrefTimer(timer: unknown): void {
  if (typeof timer === "number") {
    if (runtimeName() === "deno") g.Deno.unrefTimer(timer);
    return;
  }
  (timer as { unref?: () => void } | undefined)?.unref?.();
}

/**
 * Read a variable of the process environment; `undefined` when unset, when env access is
 * denied (Deno without `--allow-env`), or when the runtime has no process environment
 * (workerd without `nodejs_compat`, browsers: pass settings as options there).
 */
export function getEnv(name: string): string | undefined {
  try {
    if (runtimeName() === "deno") return g.Deno.env.get(name) ?? undefined;
    const value = g.process?.env?.[name];
    return typeof value === "string" ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Concatenate byte chunks into one array. */
export function concatBytes(chunks: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
