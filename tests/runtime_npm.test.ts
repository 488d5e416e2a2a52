// oq-test: runtimes=node timeout=600
/**
 * Runtime test, the npm package: `npm pack` (which builds dist/npm), install the tarball
 * into a scratch project (tmp/runtime-tests/npm-project), run the scenario there on Node
 * with `import * as oq from "oq"`, and `oq --help` through the package's bin.
 */
import assert from "node:assert/strict";
import { copyFile, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import process from "node:process";
import { it } from "./helpers.ts";
import { assertScenario, describeWithDev, ROOT, runCommand, SCRATCH } from "./runtime_helpers.ts";

const PROJECT = `${SCRATCH}/npm-project`;

describeWithDev("runtime tests: the packed npm package on Node", (env) => {
  it('installs from its tarball; import from "oq" runs the scenario; oq --help', async () => {
    const packed = await runCommand("npm", ["pack", "--json", "--pack-destination", SCRATCH]);
    assert.equal(packed.code, 0, packed.stderr);
    const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf("[")));
    const paths = info.files.map((f: { path: string }) => f.path) as string[];
    console.log(`# tarball ${info.filename}: ${info.size} bytes, ${paths.length} files`);
    assert.ok(
      paths.includes("dist/npm/mod.js") && paths.includes("dist/npm/mod.d.ts"),
      'paths.includes("dist/npm/mod.js") && paths.includes("dist/npm/mod.d.ts")',
    );
    assert.ok(paths.includes("LICENSE"), 'paths.includes("LICENSE")');
    assert.deepEqual(paths.filter((p) => /^(tests|bench|scripts)\/|^dist\/oq$/.test(p)), []);
    await rm(PROJECT, { recursive: true, force: true });
    await mkdir(PROJECT, { recursive: true });
    await writeFile(
      `${PROJECT}/package.json`,
      JSON.stringify({ name: "oq-rt-npm", private: true, type: "module" }),
    );
    const installed = await runCommand(
      "npm",
      ["install", "--no-audit", "--no-fund", `${SCRATCH}/${info.filename}`],
      { cwd: PROJECT },
    );
    assert.equal(installed.code, 0, installed.stderr);
    await copyFile(`${ROOT}/runtime-tests/scenario.mjs`, `${PROJECT}/scenario.mjs`);
    const runner = await readFile(`${ROOT}/runtime-tests/run_source.mjs`, "utf8");
    assert.match(runner, /from "\.\.\/mod\.ts"/);
    await writeFile(`${PROJECT}/run.mjs`, runner.replace(`from "../mod.ts"`, `from "oq"`));
    assertScenario(
      await runCommand(process.execPath, ["run.mjs"], {
        cwd: PROJECT,
        env: { ...env(), OQ_RUNTIME_NAME: "npm-tarball" },
      }),
      "npm-tarball",
    );
    const help = await runCommand(`${PROJECT}/node_modules/.bin/oq`, ["--help"], { cwd: PROJECT });
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^Usage: oq /);
  });
});
