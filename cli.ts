/**
 * The `oq` command line: parses arguments and dispatches to `src/cli/`; nothing else.
 * `oq --help` lists the commands; docs/cli.md documents each one.
 *
 * @module
 */
import { main } from "./src/cli/main.ts";
import { cliArgs } from "./src/runtime/mod.ts";

await main(cliArgs());
