/**
 * The `oq` command line. Parses arguments and dispatches to `src/cli/`; nothing else.
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import { VERSION } from "./src/version.ts";

const program = new Command("oq")
  .description("oq: a distributed task queue whose only backend is S3-compatible object storage")
  .version(VERSION, "-V, --version", "print the version");

await program.parseAsync();
