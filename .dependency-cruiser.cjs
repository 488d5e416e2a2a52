// The architecture's rules, checked by the gate (scripts/check.sh: `depcruise src cli.ts
// mod.ts console.ts`). docs/architecture.md explains the layers.
//
// Layers, lowest first; a folder imports only from its own layer or below:
//   runtime < base < s3 < store < task < protocol < {monitor, schedule} < worker < queue
//   < console < cli;   dev (the `oq dev` server) uses runtime, base, s3 and store only.
const LAYERS = [
  ["runtime"],
  ["base"],
  ["s3"],
  ["store"],
  ["task"],
  ["protocol"],
  ["monitor", "schedule"],
  ["worker"],
  ["queue"],
  ["console"],
  ["cli"],
];
const ALL = [...LAYERS.flat(), "dev"];

/** Folders `folder` may not import. */
function forbiddenFor(folder) {
  if (folder === "dev") {
    return ALL.filter((f) => !["dev", "runtime", "base", "s3", "store"].includes(f));
  }
  const level = LAYERS.findIndex((l) => l.includes(folder));
  const peers = LAYERS[level].filter((f) => f !== folder);
  const above = LAYERS.slice(level + 1).flat();
  // cli may start `oq dev`; nothing else below cli may reach dev.
  return [...peers, ...above, ...(folder === "cli" ? [] : ["dev"])];
}

const layerRules = ALL.map((folder) => {
  const forbidden = forbiddenFor(folder);
  return forbidden.length === 0 ? null : {
    name: `layer-${folder}`,
    comment: `src/${folder}/ may not import ${forbidden.join(", ")} (see docs/architecture.md)`,
    severity: "error",
    from: { path: `^src/${folder}/` },
    to: { path: `^src/(${forbidden.join("|")})/` },
  };
}).filter(Boolean);

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      comment: "No import cycle, type-only imports included.",
      severity: "error",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "runtime-apis-only-in-runtime",
      comment:
        "Only src/runtime/ touches Node, Deno or Bun modules; the library core stays portable.",
      severity: "error",
      from: { path: "^src/", pathNot: "^src/runtime/" },
      to: { dependencyTypes: ["core"] },
    },
    {
      name: "s3-only-through-store",
      comment:
        "Only s3/, store/ and dev/ speak S3; others may use the client's configuration (s3/config.ts), its request counters and its types.",
      severity: "error",
      from: { path: "^src/", pathNot: "^src/(s3|store|dev)/" },
      to: { path: "^src/s3/", pathNot: "^src/s3/(config|counters|types)\\.ts$" },
    },
    {
      name: "entry-points-only-from-outside",
      comment: "src/ never imports the entry files (mod.ts, cli.ts, console.ts).",
      severity: "error",
      from: { path: "^src/" },
      to: { path: "^(mod|cli|console)\\.ts$" },
    },
    ...layerRules,
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".js"] },
  },
};
