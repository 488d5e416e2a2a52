/**
 * `oq serve`: the web console, its JSON API and `/metrics` over HTTP until SIGINT/SIGTERM
 * (the handler of `console.ts`, served by the runtime adapter's HTTP server).
 *
 * @module
 */

import { getEnv, serveHttp } from "../runtime/mod.ts";
import { openStore } from "./config.ts";
import { runDaemon } from "./daemon.ts";
import { printable, usageError } from "./errors.ts";
import { err } from "./io.ts";
import { collect, parseDuration, parseIntFlag } from "./parse.ts";
import { examples, globals, type Program } from "./program.ts";

/** True for an address only this machine can reach. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127(\.\d{1,3}){3}$/.test(h);
}

/** Register `oq serve`. */
export function registerServe(program: Program): void {
  program.command("serve")
    .description("Serve the web console, its JSON API and /metrics")
    .option("--port <n>", "TCP port (0: any free one)", "8080")
    .option("--host <address>", "address to bind; other than loopback needs a token", "127.0.0.1")
    .option(
      "--token <token>",
      "require this token (bearer or login form); prefer env OQ_CONSOLE_TOKEN",
    )
    .option("--read-only", "hide and refuse every action")
    .option("--refresh <duration>", "how long all viewers share one read of the queue", "30s")
    .option(
      "--census-interval <duration>",
      "how often a refresh lists every task object (finished tasks are counted from it)",
      "5m",
    )
    .option(
      "--allow-host <name>",
      "without a token, also answer this Host name (repeatable)",
      collect,
    )
    .addHelpText(
      "after",
      examples(
        "oq serve",
        "oq serve --read-only --refresh 1m",
        "OQ_CONSOLE_TOKEN=$(openssl rand -hex 16) oq serve --host 0.0.0.0 --port 8080",
      ) + `

Reads are shared: one refresh of the queue per --refresh interval whoever looks (pages,
API, /metrics), and none while nobody looks. The overview shows what the console spends.
Without a token the console binds loopback only and answers loopback Host names and IP
addresses (a guard against DNS rebinding). See docs/console.md.`,
    )
    .action(async (flags, cmd) => {
      const port = parseIntFlag(flags.port, "--port", 0, 65_535);
      const refreshMs = parseDuration(flags.refresh, "--refresh");
      if (!(refreshMs >= 1000 && refreshMs <= 86_400_000)) {
        throw usageError(`Invalid --refresh ${JSON.stringify(flags.refresh)}: from 1s to 24h`);
      }
      const censusMs = parseDuration(flags.censusInterval, "--census-interval");
      if (!(censusMs >= 0 && censusMs <= 7 * 86_400_000)) {
        throw usageError(
          `Invalid --census-interval ${JSON.stringify(flags.censusInterval)}: from 0 to 7d`,
        );
      }
      const token = flags.token ?? (getEnv("OQ_CONSOLE_TOKEN") || undefined);
      if (token !== undefined && token.length < 8) {
        throw usageError("Invalid --token (or OQ_CONSOLE_TOKEN): use at least 8 characters");
      }
      if (!isLoopback(flags.host) && token === undefined) {
        throw usageError(
          `Refusing to serve on ${printable(flags.host)} without a token: anyone who reaches it ` +
            "could read and change the queue. Set OQ_CONSOLE_TOKEN (or --token), or bind 127.0.0.1",
        );
      }
      const { store, config } = await openStore(globals(cmd));
      const { connect } = await import("../queue/connect.ts");
      const queue = await connect({ ...config.queue, store }).catch(async (e: unknown) => {
        // Serve anyway: the console shows the error until the bucket answers.
        err(
          `oq serve: the bucket could not be checked (${
            printable(e instanceof Error ? e.message : String(e))
          }); serving anyway, the pages show the error until it answers`,
        );
        const { Queue } = await import("../queue/queue.ts");
        return new Queue(store, config.queue);
      });
      const { createConsole } = await import("../console/app.ts");
      const handler = createConsole(queue, {
        token,
        readOnly: flags.readOnly ?? false,
        refreshSeconds: refreshMs / 1000,
        fullCensusSeconds: censusMs / 1000,
        allowedHosts: flags.allowHost ?? [],
        redact: [config.s3.secretAccessKey, config.s3.sessionToken ?? ""],
      });
      const server = await serveHttp({
        hostname: flags.host,
        port,
        handler: (req) => handler(req),
        onError: (e) => err(`oq serve: ${printable(e instanceof Error ? e.message : String(e))}`),
      });
      const shown = flags.host.includes(":") ? `[${flags.host}]` : flags.host;
      err(
        `oq serve: console at http://${shown}:${server.port}/` +
          `${flags.readOnly ? " (read-only)" : ""}${token ? " (token required)" : ""}`,
      );
      let closed: Promise<void> | undefined;
      let release!: () => void;
      const stopped = new Promise<void>((r) => (release = r));
      await runDaemon({
        name: "oq serve",
        run: () => stopped,
        stop: () => {
          closed ??= server.close().finally(release);
          return closed;
        },
      });
    });
}
