/**
 * The root `oq` command: global flags, help and error output. Command groups add their
 * subcommands to it (`register*` functions in the other files of this folder).
 *
 * @module
 */

import { Command } from "@commander-js/extra-typings";
import { VERSION } from "../base/version.ts";
import type { GlobalFlags } from "./config.ts";
import { err, out } from "./io.ts";

/** Create the root command with the global flags. */
export function createProgram() {
  return new Command("oq")
    .description(
      "oq: a distributed task queue whose only backend is S3-compatible object storage",
    )
    .version(VERSION, "-V, --version", "print the version")
    .option("--endpoint <url>", "S3 endpoint URL (env S3_ENDPOINT; omit for AWS)")
    .option("--bucket <name>", "bucket (env S3_BUCKET)")
    .option("--region <region>", "region (env S3_REGION or AWS_REGION; default us-east-1)")
    .option("--prefix <prefix>", "key prefix inside the bucket, e.g. myapp/ (env OQ_PREFIX)")
    .option("--shard-count <n>", "number of shards (env OQ_SHARD_COUNT; default 4)")
    .helpOption("-h, --help", "show help (every command has its own, with examples)")
    .configureOutput({
      writeOut: (s) => out(s.replace(/\n$/, "")),
      writeErr: (s) => err(s.replace(/\n$/, "")),
    })
    .showSuggestionAfterError(true)
    .showHelpAfterError("(add --help for usage and examples)")
    .exitOverride()
    .addHelpText(
      "after",
      `
Credentials come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN).
Data goes to stdout, logs and errors to stderr. Exit codes: 0 ok, 1 failure,
2 usage error, 3 not found, 130 interrupted (a second SIGINT/SIGTERM).

Examples:
  $ oq dev --memory                      # a local S3 server; prints the env to set
  $ oq init                              # create the bucket, versioning, lifecycle rules
  $ oq submit -t send_email -i '{"to":"a@b.c"}'
  $ oq worker --exec 'send_email=./send_email.sh' --concurrency 4
  $ oq list --status failed --all --json | jq -r '.[].id'
  $ oq doctor

Docs: docs/cli.md`,
    );
}

/** The root command's type. */
export type Program = ReturnType<typeof createProgram>;

/** Anything with `optsWithGlobals()`, i.e. a subcommand in its action. */
export interface HasGlobals {
  /** Options of the command merged with the global ones. */
  optsWithGlobals(): object;
}

/** The global flags as seen from a subcommand's action. */
export function globals(cmd: HasGlobals): GlobalFlags {
  return cmd.optsWithGlobals() as GlobalFlags;
}

/** Help text: an "Examples:" block. */
export function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  $ ${l}`).join("\n")}`;
}
