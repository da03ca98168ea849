// Bundles the CLI with esbuild: one ESM file per entry (dist/bundle/sigframe.js, loaded by
// bin/sigframe.js) plus chunks that are loaded only by the commands that need them. Every dynamic
// import() in src/ is a split point: each command module (src/cli/commands.ts loads them by name),
// and the heavy parts behind them (the CRIU reader with its protobuf schemas, zod validators, the
// ELF core reader, archive codecs, the web server, the native helper's driver) land in chunks of
// their own without any per-command configuration here.
//
// Files are written atomically (temporary file, then rename), so a CLI process started while a
// rebuild runs sees either the old or the new bundle, never half a file. dist/bundle/meta.json is
// esbuild's metafile: which sources went into which chunk and what each chunk imports (the tests
// read it to hold the start-up path of each command to what it needs).
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "dist", "bundle");

/** Entry name → source: one bundle per entry. */
const ENTRIES = { sigframe: "src/cli/bin.ts" };

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
  // commander is CommonJS and require()s node built-ins; an ESM bundle has no `require` of its own.
  banner: {
    js: 'import { createRequire as __sigframeCreateRequire } from "node:module";\nconst require = __sigframeCreateRequire(import.meta.url);',
  },
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
for (const f of files.reverse()) writeAtomic(f.path, f.contents);

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

// Chunks of earlier builds.
for (const dir of [out, join(out, "chunks")]) {
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (f.endsWith(".js") && !written.has(p) && existsSync(p)) rmSync(p, { force: true });
  }
}

const entryBytes = Object.entries(result.metafile.outputs)
  .filter(([p]) => p.endsWith(".js") && !p.includes("/chunks/"))
  .map(([p, o]) => `${relative(root, join(root, p))} ${(o.bytes / 1024).toFixed(1)} KiB`);
const chunkCount = Object.keys(result.metafile.outputs).filter((p) => p.includes("/chunks/")).length;
console.log(`sigframe: CLI bundle ${entryBytes.join(", ")} + ${chunkCount} chunks`);
