/**
 * `oq dev` in its own process for the benchmark (so the server does not share an event
 * loop with the harness). Prints `{"ev":"ready","url":...}` and stops on SIGTERM/SIGINT.
 *
 *   node --import tsx bench/dev_server.ts
 */
import { startDevServer } from "../src/dev/main.ts";
import { exitProcess, onTermSignals, processId, writeStd } from "../src/runtime/mod.ts";

const dev = await startDevServer({ port: 0, lifecycleIntervalMs: 0 });
onTermSignals(() => {
  void dev.stop().then(() => exitProcess(0));
});
const parent = (globalThis as { process?: { ppid?: number } }).process?.ppid;
setInterval(() => {
  // Never outlive the harness.
  if ((globalThis as { process?: { ppid?: number } }).process?.ppid !== parent) {
    void dev.stop().then(() => exitProcess(0));
  }
}, 1000);
writeStd(
  "stdout",
  JSON.stringify({ ev: "ready", url: dev.url, pid: processId(), worker: "dev" }) + "\n",
);
