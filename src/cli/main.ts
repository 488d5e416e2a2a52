/**
 * The CLI's entry: build the command tree, parse the arguments, run the command, and turn
 * every outcome into an exit code (src/cli/errors.ts). `cli.ts` calls {@link main}.
 *
 * @module
 */

import { CommanderError } from "@commander-js/extra-typings";
import { exitProcess, getEnv, prepareStdio } from "../runtime/mod.ts";
import { registerCancel } from "./cancel.ts";
import { registerCompletion } from "./completion.ts";
import { registerDelete } from "./delete.ts";
import { registerDoctor } from "./doctor.ts";
import { registerFlow } from "./flow.ts";
import { registerLimits } from "./limits.ts";
import { describeError, EXIT } from "./errors.ts";
import { registerInspect } from "./inspect.ts";
import { registerPayload } from "./payload.ts";
import { err } from "./io.ts";
import { registerLayout } from "./layout.ts";
import { registerMonitor } from "./monitor.ts";
import { createProgram, type Program } from "./program.ts";
import { registerSchedule } from "./schedule.ts";
import { registerServe } from "./serve.ts";
import { registerSetup } from "./setup.ts";
import { registerSubmit } from "./submit.ts";
import { registerTail } from "./tail.ts";
import { registerWait } from "./wait.ts";
import { registerWorker } from "./worker.ts";

/** The whole command tree. */
export function buildProgram(): Program {
  const program = createProgram();
  program.configureHelp({ showGlobalOptions: true, sortSubcommands: false });
  registerSubmit(program);
  registerInspect(program);
  registerPayload(program);
  registerTail(program);
  registerCancel(program);
  registerWait(program);
  registerDelete(program);
  registerFlow(program);
  registerLimits(program);
  registerWorker(program);
  registerMonitor(program);
  registerSchedule(program);
  registerServe(program);
  registerSetup(program);
  registerLayout(program);
  registerDoctor(program);
  registerCompletion(program);
  return program;
}

/** Run the CLI with `args` (without the program name) and exit the process. */
export async function main(args: string[]): Promise<never> {
  await prepareStdio();
  const program = buildProgram();
  let code: number = EXIT.ok;
  try {
    if (args.length === 0) {
      program.outputHelp({ error: true });
      code = EXIT.usage;
    } else {
      await program.parseAsync(args, { from: "user" });
    }
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander printed its message already (help, version, or the usage error).
      code = e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    } else {
      const d = describeError(e);
      err(`oq: ${d.message}`);
      if (getEnv("OQ_DEBUG") === "1" && e instanceof Error && e.stack) err(e.stack);
      code = d.exitCode;
    }
  }
  return await exitProcess(code);
}
