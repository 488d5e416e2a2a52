// The compiled single-file binary (dist/oq, `bun build --compile`): the same scenarios as
// from source, on the executable users download. With OQ_TEST_BINARY=1 the suite builds it
// first (scripts/build.sh); otherwise it runs only when dist/oq exists and is newer than
// the sources, and says why it skips.
import { after, afterEach, before, describe } from "node:test";
import assert from "node:assert/strict";
import { getEnv } from "../src/runtime/mod.ts";
import {
  BINARY,
  binarySkipReason,
  buildBinary,
  type CliBackend,
  type CliRunner,
  killAll,
  primaryBackend,
  run,
} from "./cli_helpers.ts";
import { commandRoundTrips } from "./cli_roundtrip.ts";
import {
  devSubprocess,
  execOutcomes,
  gracefulStop,
  handlersFile,
  killCommands,
} from "./cli_scenarios.ts";
import { testBucket } from "./backends.ts";
import { it } from "./helpers.ts";

const build = getEnv("OQ_TEST_BINARY") === "1";
const skip = build ? false : await binarySkipReason();
if (skip) console.log(`# cli binary suite: skipped (${skip})`);
const cli: CliRunner = { name: "dist/oq", command: BINARY, prefix: [] };

describe("the compiled binary dist/oq", { skip }, () => {
  let backend: CliBackend;
  before(async () => {
    if (build && (await binarySkipReason())) await buildBinary(); // missing or stale
    backend = await primaryBackend();
  });
  afterEach(async () => { // a case that failed midway leaves no process running
    await killAll();
    killCommands();
  });
  after(async () => {
    await killAll();
    await backend?.close();
  });
  const get = () => backend;

  it("prints help and version, and exits 2 on usage errors", async () => {
    const h = await run(cli, ["--help"]);
    assert.equal(h.code, 0, h.stderr);
    assert.match(h.stdout, /Usage: oq/);
    const v = await run(cli, ["--version"]);
    assert.match(v.stdout, /^\d+\.\d+\.\d+\n$/);
    const bad = await run(cli, ["submit", "-t", "x", "-i", "{nope"], { env: get().env("b") });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Invalid JSON in --input/);
  });

  commandRoundTrips(cli, get, testBucket());
  execOutcomes(cli, get);
  gracefulStop(cli, get);
  handlersFile(cli, get);
  devSubprocess(cli);
});
