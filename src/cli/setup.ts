/**
 * Set-up commands: `oq init` (bucket, versioning, lifecycle rules) and `oq dev` (the
 * development S3 server).
 *
 * @module
 */

import { Keys } from "../keys.ts";
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
      const { initBucket } = await import("../init.ts");
      const r = await initBucket(store, new Keys(config.queue.prefix ?? ""), {
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
    .addHelpText(
      "after",
      examples(
        "oq dev                          # http://127.0.0.1:9000, data in ./.oq-data",
        "oq dev --memory --port 0 --json # any free port; settings as JSON on stdout",
        "oq dev --bucket jobs            # create the bucket jobs (default: oq-dev)",
        "oq dev --access-key me --secret-key s3cret --access-key alt --secret-key other",
      ) +
        "\n\nThe banner (stderr) lists the variables to export: S3_ENDPOINT, S3_BUCKET, S3_REGION," +
        "\nAWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY. Key pairs also come from OQ_DEV_ACCESS_KEY_ID" +
        "\nand OQ_DEV_SECRET_ACCESS_KEY (comma-separated for several; AWS_* variables are never" +
        "\nread). Each pair is an account that sees only its own buckets; the first owns the" +
        "\nbucket created at start. Not for production: no TLS, no ACLs, no multipart uploads.",
    )
    .action(async (flags, cmd) => {
      const port = parseIntFlag(flags.port, "--port", 0, 65535);
      // The global --bucket names the bucket to create (S3_BUCKET is not read here).
      const bucket = globals(cmd).bucket ?? "oq-dev";
      const explicitDir = cmd.getOptionValueSource("dir") === "cli";
      if (flags.memory && explicitDir) throw usageError("Give --dir or --memory, not both");
      const dir = flags.memory ? undefined : flags.dir;
      const { startDevServer } = await import("../dev/main.ts");
      const { DEV_REGION } = await import("../dev/buckets.ts");
      const { chosenCredentials, parseSize } = await import("../dev/options.ts");
      const { getEnv } = await import("../runtime.ts");
      const credentials = chosenCredentials(flags.accessKey, flags.secretKey, getEnv);
      const server = await startDevServer({
        port,
        host: flags.host,
        dir,
        bucket: flags.createBucket ? bucket : undefined,
        credentials,
        maxObjectSize: parseSize(flags.maxObjectSize, "--max-object-size"),
        allowedHosts: flags.allowHost,
        log: (line) => err(line),
        logRequests: flags.logRequests ?? false,
      });
      const primary = credentials?.[0] ?? { accessKeyId: "oqdev", secretAccessKey: "oqdevsecret" };
      if (flags.json) {
        outJsonLine({
          url: server.url,
          S3_ENDPOINT: server.url,
          S3_BUCKET: flags.createBucket ? bucket : null,
          S3_REGION: DEV_REGION,
          AWS_ACCESS_KEY_ID: primary.accessKeyId,
          AWS_SECRET_ACCESS_KEY: primary.secretAccessKey,
          dir: dir ?? null,
        });
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
      err("oq dev: stopped");
    });
}
