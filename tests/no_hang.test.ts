/**
 * The test command fails instead of hanging (issue 13): a failing assertion in a file that
 * left a worker running, and a case that never settles, each end their runner with a
 * failure on this runtime, through the same runner command scripts/test.sh uses.
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { execPath, runtimeName } from "../src/runtime/mod.ts";
import { type CliRunner, run } from "./cli_helpers.ts";
import { it } from "./helpers.ts";

const FIXTURE = "tests/fixtures/failing_suite.ts";

/** The runner scripts/test.sh starts for one test file on this runtime. */
function testRunner(): CliRunner {
  switch (runtimeName()) {
    case "bun":
      return { name: "bun test", command: execPath(), prefix: ["test", "--timeout", "60000"] };
    case "deno":
      return {
        name: "deno test",
        command: execPath(),
        prefix: ["test", "-A", "--quiet", "--no-check"],
      };
    default:
      // node --test marks its children (NODE_TEST_CONTEXT), and a marked runner would only
      // report to its parent: the fixture's runner starts without the mark.
      return {
        name: "node --test",
        command: "env",
        prefix: [
          ...["-u", "NODE_TEST_CONTEXT", execPath()],
          ...["--import", "tsx", "--test", "--test-force-exit", "--test-concurrency=1"],
        ],
      };
  }
}

/**
 * Run the fixture in `mode` through this runtime's test runner (killed after 90 s, so a hang
 * shows as a signal): it must end by itself with a failing status. Returns what it printed.
 */
async function runFailing(mode: "leak" | "wait"): Promise<string> {
  const file = runtimeName() === "bun" ? `./${FIXTURE}` : FIXTURE;
  const r = await run(testRunner(), [file], { env: { OQ_FIXTURE: mode }, timeoutMs: 90_000 });
  const out = r.stdout + r.stderr;
  assert.equal(r.signal, null, `the runner ended by itself (not killed):\n${out}`);
  assert.notEqual(r.code, 0, `with a failing status:\n${out}`);
  return out;
}

describe(`a failing test ends the run (${runtimeName()})`, () => {
  it("a failed assertion with a worker left running ends the file with a failure", async () => {
    const out = await runFailing("leak");
    assert.match(out, /deliberate failure with a worker running/, "naming the failed assertion");
  });

  it("a case that never settles fails at its timeout", async () => {
    const out = await runFailing("wait");
    assert.match(out, /waits for a promise that never settles/, "naming the case");
    assert.match(out, /timed out after 2000 ?ms/, "as a timeout (2 s)");
  });
});
