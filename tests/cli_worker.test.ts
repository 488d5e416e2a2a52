// The long-running commands as real subprocesses from source (on the runtime running the
// tests): `oq worker` with --exec and --handlers, graceful and forced stops, cancellation
// of a running command, `oq tail`, and `oq dev` serving other oq processes. Against moto
// when OQ_TEST_MOTO_URL is set, else an in-process `oq dev` server.
import { after, afterEach, before, describe } from "node:test";
import { type CliBackend, killAll, primaryBackend, sourceRunner } from "./cli_helpers.ts";
import {
  cancelRunning,
  devSubprocess,
  execOutcomes,
  gracefulStop,
  handlersFile,
  killCommands,
  tailFollows,
} from "./cli_scenarios.ts";

const cli = sourceRunner();

describe(`oq worker, tail and dev as subprocesses (${cli.name})`, () => {
  let backend: CliBackend;
  before(async () => {
    backend = await primaryBackend();
    console.log(`# cli worker suite: backend ${backend.name}`);
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
  execOutcomes(cli, get);
  gracefulStop(cli, get);
  cancelRunning(cli, get);
  handlersFile(cli, get);
  tailFollows(cli, get);
  devSubprocess(cli);
});
