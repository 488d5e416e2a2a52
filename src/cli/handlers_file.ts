/**
 * `oq worker --handlers FILE`: load task handlers from a JavaScript or TypeScript module.
 *
 * The module exports handlers by task type: a default export `{ type: handler, ... }`,
 * and/or named function exports whose names are the task types. Which runtimes can load
 * which files is in docs/cli.md (the compiled binary loads .ts and .js files; bare
 * imports resolve from the file's own node_modules).
 *
 * @module
 */

import { PermanentError, RetryableError } from "../worker/handler.ts";
import type { Handler } from "../worker/handler.ts";
import { validateName } from "../task/names.ts";
import { currentDir } from "../runtime/mod.ts";
import { CliError, EXIT, usageError } from "./errors.ts";

/**
 * A file path (relative to the working directory, or absolute) as the percent-encoded
 * absolute path of a file: URL (`file://` + this).
 */
export function fileUrlPath(path: string): string {
  const abs = path.startsWith("/") ? path : `${currentDir().replace(/\/$/, "")}/${path}`;
  return abs.split("/").map((seg) => encodeURIComponent(seg)).join("/");
}

/**
 * Errors thrown by a handler module that imported its own copy of oq (or made its own
 * classes) are not `instanceof` ours: recognise them by name, so that a PermanentError
 * still fails the task at once.
 */
function adopt(e: unknown): unknown {
  if (e instanceof PermanentError || e instanceof RetryableError) return e;
  const name = (e as { name?: unknown } | null)?.name;
  const message = (e as { message?: unknown } | null)?.message;
  if (name === "PermanentError") return new PermanentError(String(message ?? ""), { cause: e });
  if (name === "RetryableError") return new RetryableError(String(message ?? ""), { cause: e });
  return e;
}

/** Load the handlers of a module file: task type → handler. */
export async function loadHandlersFile(path: string): Promise<Map<string, Handler>> {
  let mod: Record<string, unknown>;
  try {
    // The `file://` prefix is written in the import itself: `deno publish` then knows the
    // specifier is an absolute file URL, resolved at run time, not an import-map name.
    mod = await import(`file://${fileUrlPath(path)}`);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if (
      (e as { code?: unknown })?.code === "ERR_UNKNOWN_FILE_EXTENSION" && /\.[mc]?ts$/.test(path)
    ) {
      // Node before 22.18 runs no TypeScript by itself (the npm package's `oq` is Node).
      throw new CliError(
        `Cannot load handlers from ${path}: this Node cannot import TypeScript. Use a .js or ` +
          ".mjs file, Node 22.18 or later (it strips types), or start oq with node --import tsx",
        EXIT.usage,
      );
    }
    throw new CliError(`Cannot load handlers from ${path}: ${msg}`, EXIT.usage);
  }
  const found = new Map<string, Handler>();
  const add = (type: string, fn: unknown, where: string) => {
    if (typeof fn !== "function") {
      throw usageError(`${path}: ${where} is not a function`);
    }
    try {
      validateName("task type", type);
    } catch (e) {
      throw usageError(`${path}: ${where}: ${(e as Error).message}`);
    }
    const handler = fn as Handler;
    found.set(type, async (input, ctx) => {
      try {
        return await handler(input, ctx);
      } catch (e) {
        throw adopt(e);
      }
    });
  };
  const dflt = mod.default;
  if (dflt !== undefined && dflt !== null) {
    if (typeof dflt !== "object") {
      throw usageError(
        `${path}: the default export must be an object { taskType: handler }, got a ${typeof dflt}`,
      );
    }
    for (const [type, fn] of Object.entries(dflt)) add(type, fn, `default export "${type}"`);
  }
  for (const [name, value] of Object.entries(mod)) {
    if (name === "default" || typeof value !== "function") continue;
    if (found.has(name)) throw usageError(`${path}: task type "${name}" is exported twice`);
    add(name, value, `export "${name}"`);
  }
  if (found.size === 0) {
    throw usageError(
      `${path} exports no handlers: export default { taskType: handler }, or named functions`,
    );
  }
  return found;
}
