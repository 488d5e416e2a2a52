/**
 * Set-up commands: `oq init` (bucket, versioning, lifecycle rules) and `oq dev` (the
 * development S3 server).
 *
 * @module
 */

import { openStore } from "./config.ts";
import { runDaemon } from "./daemon.ts";
import { usageError } from "./errors.ts";
import { err, out, outJson, outJsonLine } from "./io.ts";
import { collect, parseIntFlag } from "./parse.ts";
import { examples, globals, type Program } from "./program.ts";

/** Register `oq init` and `oq dev`. */
export function registerSetup(program: Program): void {
  program.command("init")
    .description("Create the bucket if absent, enable versioning, install oq's lifecycle rules")
    .option(
      "--no-versioning",
      "do not enable versioning (no task history; needs OQ_ALLOW_NO_VERSIONING=1 to run)",
    )
    .option(
      "--index-noncurrent-days <n>",
      "days before old versions under the index prefixes are removed",
      "1",
    )
    .option(
      "--task-history-days <n>",
      "days before old versions of tasks (their history) are removed (default: kept)",
    )
    .option("--json", "print {created, versioning, rules} as JSON")
    .addHelpText(
      "after",
      examples("oq init", "oq --bucket jobs --prefix myapp/ init --task-history-days 30") +
        "\n\nIdempotent. Replaces the bucket's lifecycle configuration (S3 keeps one per bucket).",
    )
    .action(async (flags, cmd) => {
      const indexNoncurrentDays = parseIntFlag(
        flags.indexNoncurrentDays,
        "--index-noncurrent-days",
        1,
      );
      const taskHistoryDays = flags.taskHistoryDays === undefined
        ? undefined
        : parseIntFlag(flags.taskHistoryDays, "--task-history-days", 1);
      const { store, config } = await openStore(globals(cmd));
      const { initBucket } = await import("../queue/init.ts");
      const r = await initBucket(store, config.queue.prefix ?? "", {
        versioning: flags.versioning,
        indexNoncurrentDays,
        taskHistoryDays,
        shardCount: config.queue.shardCount,
      });
      if (flags.json) return outJson({ bucket: config.s3.bucket, ...r });
      out([
        `bucket      ${config.s3.bucket} (${r.created ? "created" : "exists"})`,
        `versioning  ${r.versioning}`,
        `lifecycle   ${r.rules.length} rules: ${r.rules.map((x) => x.id).join(", ")}`,
        `shards      ${r.shardCount} (the bucket's layout; change with oq reshard)`,
      ].join("\n"));
    });

  program.command("dev")
    .description("Run the development S3 server (FOR DEVELOPMENT ONLY) until SIGINT/SIGTERM")
    .option("--port <port>", "TCP port (0: any free port)", "9000")
    .option("--host <host>", "interface to bind (its name is answered as Host too)", "127.0.0.1")
    .option("--dir <path>", "keep the data in this directory", ".oq-data")
    .option("--memory", "keep the data in memory only (lost at exit)")
    .option(
      "--access-key <id>",
      "access key id of a key pair (repeatable: each pair is an account); default oqdev",
      collect,
    )
    .option("--secret-key <secret>", "secret key of the key pair, one per --access-key", collect)
    .option("--max-object-size <size>", "largest object accepted, e.g. 100MiB", "5GiB")
    .option(
      "--allow-host <name>",
      "also answer this Host name (default: loopback names, IPs, --host; repeatable)",
      collect,
    )
    .option("--no-create-bucket", "do not create the --bucket bucket at start")
    .option("--log-requests", "log one line per request on stderr")
    .option("--json", "print the connection settings as one JSON line on stdout once listening")
    // Not `--env-file`: Node 20 takes that flag for itself wherever it appears in argv.
    .option(
      "--write-env <path>",
      "once listening, write the `export` lines to this file (removed at stop)",
    )
    .option(
      "--print-env",
      "print the `export` lines of the server these flags start, and exit (starts nothing)",
    )
    .addHelpText(
      "after",
      examples(
        "oq dev                          # http://127.0.0.1:9000, data in ./.oq-data",
        'eval "$(oq dev --print-env)"    # in another shell: load the settings of that server',
        "oq dev --memory --port 0 --write-env oq-dev.env   # any free port; then: . ./oq-dev.env",
        "oq dev --memory --port 0 --json # any free port; settings as JSON on stdout",
        "oq dev --bucket jobs            # create the bucket jobs (default: oq-dev)",
        "oq dev --access-key me --secret-key s3cret --access-key alt --secret-key other",
      ) +
        "\n\nThe banner (stderr) ends with `export` lines (S3_ENDPOINT, S3_BUCKET, S3_REGION," +
        "\nAWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) that paste into a shell as they are." +
        "\n--print-env prints the same lines from the flags alone (same --port, --host, --bucket" +
        "\nand key pair as the server; --port 0 is refused: the port is only known once listening)." +
        "\nKey pairs also come from OQ_DEV_ACCESS_KEY_ID and OQ_DEV_SECRET_ACCESS_KEY" +
        "\n(comma-separated for several; AWS_* variables are never read). Each pair is an account" +
        "\nthat sees only its own buckets; the first owns the bucket created at start." +
        "\nNot for production: no TLS, no ACLs, no multipart uploads.",
    )
    .action(async (flags, cmd) => {
      const port = parseIntFlag(flags.port, "--port", 0, 65535);
      // The global --bucket names the bucket to create (S3_BUCKET is not read here).
      const bucket = globals(cmd).bucket ?? "oq-dev";
      const explicitDir = cmd.getOptionValueSource("dir") === "cli";
      if (flags.memory && explicitDir) throw usageError("Give --dir or --memory, not both");
      const dir = flags.memory ? undefined : flags.dir;
      const { DEV_DEFAULTS, devEnv, shellExports, shellWord, startDevServer, urlOf } = await import(
        "../dev/main.ts"
      );
      const { chosenCredentials, parseSize } = await import("../dev/options.ts");
      const { getEnv } = await import("../runtime/mod.ts");
      const credentials = chosenCredentials(flags.accessKey, flags.secretKey, getEnv);
      const primary = credentials?.[0] ?? {
        accessKeyId: DEV_DEFAULTS.accessKeyId,
        secretAccessKey: DEV_DEFAULTS.secretAccessKey,
      };
      const created = flags.createBucket ? bucket : undefined;
      if (flags.printEnv) {
        if (flags.writeEnv !== undefined || flags.json) {
          throw usageError("--print-env starts no server: give it without --write-env and --json");
        }
        if (port === 0) {
          throw usageError(
            "--print-env needs the server's --port: with --port 0 the port is only known once " +
              "listening (use --write-env or --json on the server instead)",
          );
        }
        const url = urlOf(flags.host, port);
        out(shellExports(devEnv({ url, bucket: created, ...primary })));
        if (!(await answers(url))) {
          err(`oq dev: nothing answers at ${url} yet: start the server with \`oq dev\``);
        }
        return;
      }
      const server = await startDevServer({
        port,
        host: flags.host,
        dir,
        bucket: created,
        credentials,
        maxObjectSize: parseSize(flags.maxObjectSize, "--max-object-size"),
        allowedHosts: flags.allowHost,
        log: (line) => err(line),
        logRequests: flags.logRequests ?? false,
      });
      const env = devEnv({ url: server.url, bucket: created, ...primary });
      if (flags.writeEnv !== undefined) {
        const { writeFileAtomic } = await import("../runtime/mod.ts");
        try {
          await writeFileAtomic(flags.writeEnv, `${shellExports(env)}\n`);
        } catch (e) {
          await server.stop();
          throw e;
        }
        const file = flags.writeEnv.includes("/") ? flags.writeEnv : `./${flags.writeEnv}`;
        err(`oq dev: settings written to ${file} (load them with: . ${shellWord(file)})`);
      }
      if (flags.json) {
        outJsonLine({ url: server.url, S3_BUCKET: null, ...env, dir: dir ?? null });
      }
      let resolveRun: () => void = () => {};
      const running = new Promise<void>((r) => (resolveRun = r));
      await runDaemon({
        name: "oq dev",
        run: () => running,
        stop: async () => {
          await server.stop();
          resolveRun();
        },
      });
      if (flags.writeEnv !== undefined) {
        const { removePath } = await import("../runtime/mod.ts");
        await removePath(flags.writeEnv);
      }
      err("oq dev: stopped");
    });
}

/** True when an HTTP server answers at `url` (any status) within a second. */
async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await res.body?.cancel();
    return true;
  } catch {
    return false;
  }
}
