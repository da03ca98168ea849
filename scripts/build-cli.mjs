// Bundles the CLI with esbuild: one file per entry (dist/bundle/sigframe.js, loaded by
// bin/sigframe.js) plus chunks that are loaded only by the commands that need them. Every dynamic
// import() in src/ is a split point: each command module (src/cli/commands.ts loads them by name),
// and the heavy parts behind them (the CRIU reader with its protobuf schemas, zod validators, the
// ELF core reader, archive codecs, the web server, the native helper's driver) land in chunks of
// their own without any per-command configuration here.
//
// esbuild splits ES modules only, so the bundle is built as ES modules and each output file is then
// rewritten as CommonJS (static imports become require() of the chunk, import() a require() in a
// promise), with the same names and the same chunk graph. CommonJS, because bin/bundle-loader.js
// loads CommonJS code through vm.Script with V8's code cache, and it spares Node's ES module loader
// at start-up. After the bundle, the build runs a few commands through bin/bundle-loader.js in one
// process (the second entry, dist/bundle/train.js) and writes the code cache of every file they
// loaded to dist/bundle/code-cache/.
//
// Files are written atomically (temporary file, then rename), so a CLI process started while a
// rebuild runs sees either the old or the new bundle, never half a file. dist/bundle/meta.json is
// esbuild's metafile: which sources went into which chunk and what each chunk imports (the tests
// read it to hold the start-up path of each command to what it needs).

import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { build, transform } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "dist", "bundle");

/** Entry name → source: one bundle per entry (train: the runner without a process, for the cache). */
const ENTRIES = { sigframe: "src/cli/bin.ts", train: "src/cli/train.ts" };

const result = await build({
  absWorkingDir: root,
  entryPoints: ENTRIES,
  outdir: out,
  entryNames: "[name]",
  chunkNames: "chunks/[name]-[hash]",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  // The CommonJS files below have no import.meta; package-root.ts asks for its file's URL.
  define: { "import.meta.url": "__sigframe_import_meta_url" },
  // Licence comments of bundled packages go to one file (below), not into every chunk.
  legalComments: "none",
  metafile: true,
  write: false,
  logLevel: "warning",
});

mkdirSync(join(out, "chunks"), { recursive: true });
const written = new Set();
function writeAtomic(path, contents) {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, contents);
  renameSync(tmp, path);
  written.add(path);
}

// Chunks first, entries last: an entry never names a chunk that is not there yet.
const files = [...result.outputFiles].sort(
  (a, b) => Number(a.path.includes("/chunks/")) - Number(b.path.includes("/chunks/")),
);
for (const f of files.reverse()) {
  if (!f.path.endsWith(".js")) {
    writeAtomic(f.path, f.contents);
    continue;
  }
  const cjs = await transform(f.text, {
    format: "cjs",
    platform: "node",
    target: "node20",
    // import() of a chunk becomes Promise.resolve().then(() => require(chunk)).
    supported: { "dynamic-import": false },
    logLevel: "warning",
  });
  const meta = 'var __sigframe_import_meta_url = require("node:url").pathToFileURL(__filename).href;\n';
  writeAtomic(f.path, cjs.code.includes("__sigframe_import_meta_url") ? meta + cjs.code : cjs.code);
}
// The package is "type": "module"; the bundle's .js files are CommonJS.
writeAtomic(join(out, "package.json"), '{\n  "type": "commonjs"\n}\n');

// Third-party code in the bundle, with each package's licence text.
const packages = new Map();
for (const input of Object.keys(result.metafile.inputs)) {
  const m = /^(.*node_modules\/((?:@[^/]+\/)?[^/]+))\//.exec(input);
  if (m && !packages.has(m[2])) packages.set(m[2], join(root, m[1]));
}
const notices = [...packages.entries()]
  .sort(([a], [b]) => a.localeCompare(b))
  .map(([name, dir]) => {
    const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
    const file = readdirSync(dir).find((f) => /^licen[cs]e/i.test(f));
    const text = file ? readFileSync(join(dir, file), "utf8").trim() : `License: ${pkg.license}`;
    return `${name}@${pkg.version} (${pkg.license})\n\n${text}\n`;
  });
writeAtomic(
  join(out, "THIRD-PARTY-LICENSES.txt"),
  `The sigframe CLI bundle includes these packages.\n\n${notices.join(`\n${"-".repeat(72)}\n\n`)}`,
);
writeAtomic(join(out, "meta.json"), `${JSON.stringify(result.metafile, null, 1)}\n`);

// Chunks of earlier builds, and their code cache.
for (const dir of [out, join(out, "chunks")]) {
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (f.endsWith(".js") && !written.has(p) && existsSync(p)) rmSync(p, { force: true });
  }
}
rmSync(join(out, "code-cache"), { recursive: true, force: true });

// The code cache, from a process that runs the training commands (scripts/train-code-cache.cjs).
// Node options of the build's own environment would change V8's flags, and V8 would then reject the
// cache in every ordinary process: the training process runs without them.
const trainEnv = { ...process.env };
delete trainEnv.NODE_OPTIONS;
const train = spawnSync(process.execPath, [join(root, "scripts", "train-code-cache.cjs")], {
  cwd: root,
  env: trainEnv,
  encoding: "utf8",
});
if (train.status !== 0) {
  // The bundle works without a cache; say why there is none.
  console.warn(
    `sigframe: no code cache for the CLI bundle: ${train.stderr || train.error || `exit ${train.status}`}`,
  );
}

const entryBytes = Object.entries(result.metafile.outputs)
  .filter(([p]) => p.endsWith(".js") && !p.includes("/chunks/"))
  .map(([p, o]) => `${relative(root, join(root, p))} ${(o.bytes / 1024).toFixed(1)} KiB`);
const chunkCount = Object.keys(result.metafile.outputs).filter((p) => p.includes("/chunks/")).length;
console.log(
  `sigframe: CLI bundle ${entryBytes.join(", ")} + ${chunkCount} chunks${train.status === 0 ? `; ${train.stdout.trim()}` : ""}`,
);
