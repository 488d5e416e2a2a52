// Runs the scenario against the sources (mod.ts) and prints its result as one JSON line.
// Node 20: `node --import tsx`; Node 22+: `node` (type stripping); `bun`; `deno run -A`.
// Settings come from the environment (S3_ENDPOINT, S3_BUCKET, AWS_*), the runtime's name
// from OQ_RUNTIME_NAME.
import process from "node:process";
import * as oq from "../mod.ts";
import { scenario } from "./scenario.mjs";

const result = await scenario(oq, { ...process.env }, process.env.OQ_RUNTIME_NAME ?? "source");
console.log(JSON.stringify(result));
