// The `oq` command line, driven as a real subprocess from source (on the runtime running
// the tests): usage errors and exit codes, help, completions, and round trips of every
// read and write command against an in-process `oq dev` server and against moto.
import { after, before, describe } from "node:test";
import assert from "node:assert/strict";
import {
  type CliBackend,
  devBackend,
  killAll,
  motoBackend,
  run,
  sourceRunner,
  testBucket,
} from "./cli_helpers.ts";
import { commandRoundTrips } from "./cli_roundtrip.ts";
import { buildProgram } from "../src/cli/main.ts";
import { it } from "./helpers.ts";

interface HelpNode {
  name(): string;
  commands: readonly HelpNode[];
  configureOutput(o: { writeOut(s: string): void; writeErr(s: string): void }): unknown;
  outputHelp(): void;
}

const cli = sourceRunner();
const noConfig = {
  S3_ENDPOINT: "",
  S3_BUCKET: "",
  S3_REGION: "",
  AWS_REGION: "",
  AWS_DEFAULT_REGION: "",
  AWS_ACCESS_KEY_ID: "",
  AWS_SECRET_ACCESS_KEY: "",
  NO_COLOR: "1",
};
const someConfig = {
  ...noConfig,
  S3_ENDPOINT: "http://127.0.0.1:9",
  S3_BUCKET: "b",
  AWS_ACCESS_KEY_ID: "k",
  AWS_SECRET_ACCESS_KEY: "s",
};

describe(`oq usage errors and help (${cli.name})`, () => {
  after(killAll);

  it("--help on every command shows examples and exits 0", async () => {
    // Every command's help, rendered in-process (one process per command costs seconds
    // on Node); a sample through real processes below.
    const program = buildProgram();
    const walk = (c: HelpNode, path: string[]): void => {
      let text = "";
      c.configureOutput({
        writeOut: (s: string) => (text += s),
        writeErr: (s: string) => (text += s),
      });
      c.outputHelp();
      assert.match(text, /Examples:\n {2}\$ oq /, `oq ${path.join(" ")} --help has examples`);
      for (const sub of c.commands) walk(sub, [...path, sub.name()]);
    };
    walk(program as unknown as HelpNode, []);
    for (const args of [["--help"], ["submit", "--help"], ["schedule", "create", "--help"]]) {
      const r = await run(cli, args, { env: noConfig });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Examples:/);
      assert.equal(r.stderr, "");
    }
    const v = await run(cli, ["--version"], { env: noConfig });
    assert.equal(v.code, 0);
    assert.match(v.stdout, /^\d+\.\d+\.\d+\n$/);
  });

  it("an unknown flag is a usage error: exit 2, message on stderr, nothing on stdout", async () => {
    const r = await run(cli, ["list", "--bogus"], { env: someConfig });
    assert.equal(r.code, 2);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /unknown option '--bogus'/);
    const u = await run(cli, ["lst"], { env: someConfig });
    assert.equal(u.code, 2);
    assert.match(u.stderr, /unknown command 'lst'[\s\S]*Did you mean list\?/);
    const none = await run(cli, [], { env: someConfig });
    assert.equal(none.code, 2);
    assert.match(none.stderr, /Usage: oq/);
  });

  it("bad JSON, durations, times and numbers are usage errors naming the flag", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["submit", "-t", "x", "-i", "{bad"], /Invalid JSON in --input/],
      [["submit", "-t", "x", "--delay", "5 parsecs"], /Invalid duration "5 parsecs" for --delay/],
      [["submit", "-t", "x", "--at", "tomorrow"], /Invalid time "tomorrow" for --at/],
      [["submit", "-t", "x", "--max-retries", "-1"], /Invalid --max-retries "-1"/],
      [["submit", "-t", "x", "--delay", "1s", "--at", "2026-01-01T00:00:00Z"], /--at or --delay/],
      [["submit", "-i", "{}"], /Missing -t\/--type/],
      [["submit", "-t", "x", "-i", "@/nonexistent.json"], /File not found: \/nonexistent.json/],
      [["list", "--status", "done"], /Invalid --status "done"/],
      [["list", "--limit", "0"], /Invalid --limit "0"/],
      [["worker"], /No handlers: give --exec TYPE=COMMAND/],
      [["worker", "--exec", "nocommand"], /Invalid --exec "nocommand": expected TYPE=COMMAND/],
      [["worker", "--exec", "a=true", "--log-format", "xml"], /Invalid --log-format "xml"/],
      [
        ["worker", "--exec", "a=true", "--peer-check-interval", "soon"],
        /Invalid duration "soon" for --peer-check-interval/,
      ],
      [
        ["worker", "--exec", "a=true", "--lease-entry-after", "-1s"],
        /Invalid duration "-1s" for --lease-entry-after/,
      ],
      [["cancel"], /Give task ids to cancel, or --task-type TYPE/],
      [["completion", "powershell"], /Unknown shell "powershell"/],
      [["--shard-count", "0", "stats"], /Invalid shard count "0"/],
    ];
    for (const [args, re] of cases) {
      const r = await run(cli, args, { env: someConfig });
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, re, args.join(" "));
      assert.equal(r.stdout, "", args.join(" "));
    }
  });

  it("missing configuration is one message naming the env vars and flags (exit 2)", async () => {
    const r = await run(cli, ["list"], { env: noConfig });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Missing configuration: set S3_BUCKET \(or --bucket\)/);
    assert.match(r.stderr, /S3_ENDPOINT \(or --endpoint\)/);
    assert.match(r.stderr, /AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY/);
    assert.match(r.stderr, /oq dev/);
  });

  it("an unreachable endpoint is a failure (exit 1) with the S3 error", async () => {
    const r = await run(cli, ["get", "0-abc"], { env: someConfig });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^oq: .*HeadBucket/m);
  });

  it("completion scripts for bash, zsh and fish name every command", async () => {
    for (const shell of ["bash", "zsh", "fish"]) {
      const r = await run(cli, ["completion", shell], { env: noConfig });
      assert.equal(r.code, 0, r.stderr);
      const flag = (f: string) => (shell === "fish" ? `-l ${f}` : `--${f}`);
      for (
        const word of ["submit", "worker", "schedule", "doctor", flag("exec"), flag("endpoint")]
      ) {
        assert.ok(r.stdout.includes(word), `${shell} completion lacks ${word}`);
      }
    }
    const bash = (await run(cli, ["completion", "bash"], { env: noConfig })).stdout;
    const check = await run({ name: "bash", command: "bash", prefix: [] }, ["-n"], { stdin: bash });
    assert.equal(check.code, 0, `bash -n: ${check.stderr}`);
  });
});

// The round trips run once: against moto when it is available (CI), else against an
// in-process `oq dev` server. (cli_worker.test.ts drives `oq dev` as a subprocess too.)
const moto = motoBackend();
const where = typeof moto === "string" ? "an in-process oq dev server" : "moto";
describe(`oq commands against ${where} (${cli.name})`, () => {
  let backend: CliBackend;
  before(async () => {
    backend = typeof moto === "string" ? await devBackend() : moto;
  });
  after(async () => {
    await killAll();
    await backend?.close();
  });
  commandRoundTrips(cli, () => backend, testBucket());
});
