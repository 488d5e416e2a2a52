/**
 * The oq version (kept equal to package.json and deno.json by a test).
 *
 * @example
 * ```ts
 * import { VERSION } from "../../mod.ts";
 * console.log(`oq ${VERSION}`);
 * ```
 */
export const VERSION = "0.1.0";
