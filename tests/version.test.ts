import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { VERSION } from "../src/base/version.ts";
import { it } from "./helpers.ts";

it("VERSION matches package.json and deno.json", () => {
  const read = (name: string) =>
    JSON.parse(readFileSync(fileURLToPath(String(new URL(`../${name}`, import.meta.url))), "utf8"));
  assert.equal(read("package.json").version, VERSION);
  assert.equal(read("deno.json").version, VERSION);
});
