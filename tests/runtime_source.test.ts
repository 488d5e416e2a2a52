// oq-test: runtimes=node timeout=600
/**
 * Runtime tests, sources: the scenario of runtime-tests/ (connect with an env object,
 * submit, a worker drains, the task is completed, its history read) on Node 20 (tsx),
 * Node 24 (type stripping; the `node@24` npm package, installed into tmp/runtime-tests),
 * Bun and Deno, each a subprocess against an `oq dev`.
 */
import { access } from "node:fs/promises";
import process from "node:process";
import { it } from "./helpers.ts";
import { assertScenario, describeWithDev, ROOT, runCommand, SCRATCH } from "./runtime_helpers.ts";

const SCRIPT = "runtime-tests/run_source.mjs";
const NODE24_DIR = `${SCRATCH}/node24`;
const NODE24 = `${NODE24_DIR}/node_modules/.bin/node`;

describeWithDev("runtime tests: the sources on each runtime", (env) => {
  const cases: Array<[string, () => Promise<[string, string[]]>]> = [
    ["node20", () => Promise.resolve([process.execPath, ["--import", "tsx", SCRIPT]])],
    ["bun", () => Promise.resolve([`${ROOT}/node_modules/.bin/bun`, [SCRIPT]])],
    ["deno", () => Promise.resolve([`${ROOT}/node_modules/.bin/deno`, ["run", "-A", SCRIPT]])],
    ["node24", async () => {
      if (!(await access(NODE24).then(() => true, () => false))) {
        // The `node` npm package ships Node binaries by version (preinstall links it).
        const setup = await runCommand("bash", [
          "-c",
          `mkdir -p ${NODE24_DIR} && cd ${NODE24_DIR} && ` +
          `printf '%s' '{"name":"oq-rt-node24","private":true,"allowScripts":{"node":true}}' > package.json && ` +
          "npm install --no-audit --no-fund --save-exact node@24",
        ]);
        if (setup.code !== 0) throw new Error(`npm install node@24 failed:\n${setup.stderr}`);
      }
      return [NODE24, [SCRIPT]];
    }],
  ];
  for (const [runtime, command] of cases) {
    it(`${runtime}: connect, submit, drain, completed, history`, async () => {
      const [cmd, args] = await command();
      assertScenario(
        await runCommand(cmd, args, { env: { ...env(), OQ_RUNTIME_NAME: runtime } }),
        runtime,
      );
    });
  }
});
