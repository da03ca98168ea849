/**
 * The CLI bundle (scripts/build-cli.mjs): bin/sigframe.js runs it, every dynamic import is its own
 * chunk, and each command's start-up path loads only what that command needs. Start-up speed is
 * held here as work (which modules a command loads), never as time; time is `npm run bench`.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { memoryIo } from "../../src/cli/context.ts";
import { run } from "../../src/cli/main.ts";
import { VERSION } from "../../src/cli/version.ts";
import { helperStatus } from "../../src/node/native.ts";
import { type BundleMeta, bundledCli, bundleMeta } from "../helpers/cli-bundle.ts";
import { REPO_ROOT } from "../helpers/shared.ts";

const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as {
  version: string;
  bin: Record<string, string>;
};

function sigframe(args: string[], env: Record<string, string | undefined> = {}) {
  return spawnSync(process.execPath, [bundledCli(), ...args], {
    cwd: REPO_ROOT,
    encoding: "utf8",
    env: { ...process.env, ...env },
  });
}

/** The output file built from `source` (an entry or a dynamic-import split point). */
function outputOf(meta: BundleMeta, source: string): string {
  const out = Object.entries(meta.outputs).find(([, o]) => o.entryPoint === source);
  assert.ok(out, `no bundle output for ${source}`);
  return out[0];
}

/** Every output file loaded once `roots` are: their static imports, transitively. */
function loadedWith(meta: BundleMeta, roots: string[]): Set<string> {
  const seen = new Set<string>();
  const todo = [...roots];
  while (todo.length) {
    const o = todo.pop()!;
    if (seen.has(o)) continue;
    seen.add(o);
    for (const i of meta.outputs[o]!.imports)
      if (i.kind === "import-statement" && !i.external) todo.push(i.path);
  }
  return seen;
}

/** The sources (repository paths) inside a set of output files. */
function sourcesOf(meta: BundleMeta, outputs: Set<string>): string[] {
  return [...outputs].flatMap((o) => Object.keys(meta.outputs[o]!.inputs));
}

/** What `sigframe CMD …` loads before the command runs: the entry (runner and commander) and the command's module. */
function commandPath(meta: BundleMeta, module: string): string[] {
  return sourcesOf(meta, loadedWith(meta, [outputOf(meta, "src/cli/bin.ts"), outputOf(meta, module)]));
}

test("bin/sigframe.js is the package's command and runs the bundle", async () => {
  assert.equal(pkg.bin.sigframe, "bin/sigframe.js");
  const bin = readFileSync(join(REPO_ROOT, "bin", "sigframe.js"), "utf8");
  assert.match(bin, /^#!\/bin\/sh\n/);
  assert.match(bin, /"dist", "bundle"/);
  const r = sigframe(["layout", "amd-zen4", "--json"]);
  assert.equal(r.status, 0, r.stderr);
  const inProcess = memoryIo();
  assert.equal(await run(["layout", "amd-zen4", "--json"], inProcess), 0);
  assert.equal(r.stdout, inProcess.out, "the bundle and the sources give the same document");
});

test("--version prints package.json's version, from the bundle and in-process", async () => {
  assert.equal(VERSION, pkg.version);
  for (const args of [["--version"], ["-V"], ["--version", "--json"]]) {
    const r = sigframe(args);
    assert.equal(r.status, 0);
    assert.equal(r.stdout, `${pkg.version}\n`);
    assert.equal(r.stderr, "");
  }
  const io = memoryIo();
  assert.equal(await run(["--version"], io), 0);
  assert.equal(io.out, `${pkg.version}\n`);
});

test("--version is answered by bin/sigframe.js without loading the bundle", () => {
  // The launcher and package.json alone, no dist/: --version still answers.
  const dir = mkdtempSync(join(tmpdir(), "sigframe-bin-"));
  try {
    cpSync(join(REPO_ROOT, "bin"), join(dir, "bin"), { recursive: true });
    cpSync(join(REPO_ROOT, "package.json"), join(dir, "package.json"));
    const r = spawnSync(process.execPath, [join(dir, "bin", "sigframe.js"), "--version"], {
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `${pkg.version}\n`);
    const other = spawnSync(process.execPath, [join(dir, "bin", "sigframe.js"), "layout", "amd-zen4"], {
      encoding: "utf8",
    });
    assert.equal(other.status, 4, "anything else needs the bundle");
    assert.equal(other.stdout, "");
    assert.equal(
      other.stderr,
      "sigframe: dist/bundle/sigframe.js: the CLI is not built: run 'npm run build'\n",
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("bad usage and bad input keep the contract through the bundle", () => {
  const r = sigframe(["layout", "no-such-cpu"]);
  assert.equal(r.status, 2);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /^sigframe: no-such-cpu: .*\n$/);
  const u = sigframe(["frobnicate"]);
  assert.equal(u.status, 2);
  assert.equal(u.stderr.split("\n").filter(Boolean).length, 1);
});

test("every command module is a chunk of its own, with no per-command build configuration", () => {
  const meta = bundleMeta();
  const commands = readFileSync(join(REPO_ROOT, "src", "cli", "commands.ts"), "utf8");
  const modules = [...commands.matchAll(/import\("\.\/([\w-]+)\.ts"\)/g)].map((m) => `src/cli/${m[1]}.ts`);
  assert.ok(modules.length >= 10, `command modules found in commands.ts: ${modules.length}`);
  const outputs = new Set(modules.map((m) => outputOf(meta, m)));
  assert.equal(outputs.size, modules.length, "one chunk per command module");
  const build = readFileSync(join(REPO_ROOT, "scripts", "build-cli.mjs"), "utf8");
  for (const m of modules) assert.ok(!build.includes(m), `build-cli.mjs names ${m}`);
});

test("the web server is loaded only by serve", () => {
  const meta = bundleMeta();
  const commands = readFileSync(join(REPO_ROOT, "src", "cli", "commands.ts"), "utf8");
  const modules = [...commands.matchAll(/import\("\.\/([\w-]+)\.ts"\)/g)].map((m) => `src/cli/${m[1]}.ts`);
  for (const m of modules) {
    const loaded = commandPath(meta, m);
    assert.equal(loaded.includes("src/node/serve.ts"), m === "src/cli/serve.ts", m);
  }
});

/** Sources that only some inputs need: loaded when such an input is given, not at start-up. */
const HEAVY: [string, (s: string) => boolean][] = [
  ["zod (JSON validators)", (s) => s.startsWith("node_modules/zod/")],
  ["the protobuf runtime", (s) => s.startsWith("node_modules/@bufbuild/")],
  ["the CRIU schemas", (s) => s.startsWith("src/core/criu/gen/")],
  ["the ELF core reader", (s) => s === "src/core/elf/core.ts"],
  ["archive codecs", (s) => /^node_modules\/(fflate|zstddec|xz-decompress|modern-tar)\//.test(s)],
  ["the native helper's driver", (s) => s === "src/node/native.ts" || s === "src/node/probe.ts"],
];

test("commands start without the readers only some inputs need (built-in profiles, raw images, frames)", () => {
  const meta = bundleMeta();
  for (const cmd of ["layout", "inspect", "build", "predict", "translate", "check", "scan"]) {
    const loaded = commandPath(meta, `src/cli/${cmd}.ts`);
    for (const [what, is] of HEAVY) {
      const found = loaded.filter(is);
      assert.deepEqual(found, [], `${cmd} loads ${what} at start-up`);
    }
  }
  // criu show needs the protobuf runtime; of the generated CRIU code only crit's rendering options (a
  // table, no descriptors): an image type's schema is loaded with the image (core/criu/handlers.ts),
  // the archive readers with an archive or a compressed image.
  const criu = commandPath(meta, "src/cli/criu.ts");
  assert.ok(criu.some(HEAVY[1]![1]));
  assert.deepEqual(criu.filter(HEAVY[2]![1]), ["src/core/criu/gen/crit-options.ts"]);
  for (const [what, is] of [HEAVY[0]!, HEAVY[3]!, HEAVY[4]!, HEAVY[5]!])
    assert.deepEqual(criu.filter(is), [], `criu loads ${what}`);
  assert.deepEqual(
    criu.filter((s) => s.startsWith("src/core/archive/") || s === "src/node/stream-input.ts"),
    [],
    "criu loads the archive readers at start-up",
  );
});

test("no command builds descriptor.proto: the CRIU schemas embed their descriptors as objects", () => {
  // protoc-gen-es's fileDesc decodes a serialized descriptor with descriptor.proto's schema, which
  // protobuf-es builds first; the generated CRIU modules use embeddedFile (scripts/criu-embed.ts).
  const meta = bundleMeta();
  const sources = Object.values(meta.outputs).flatMap((o) => Object.keys(o.inputs));
  const schemas = sources.filter((s) => /^src\/core\/criu\/gen\/.*_pb\.ts$/.test(s));
  assert.ok(schemas.length >= 10, `CRIU schema modules in the bundle: ${schemas.length}`);
  assert.ok(sources.includes("src/core/criu/embedded-file.ts"));
  for (const s of ["wkt/google/protobuf/descriptor_pb.js", "codegenv2/file.js"])
    assert.ok(!sources.includes(`node_modules/@bufbuild/protobuf/dist/esm/${s}`), `the bundle holds ${s}`);
});

test("a built-in profile, a profile file, a raw image and a CRIU checkpoint all still work", () => {
  const dir = mkdtempSync(join(tmpdir(), "sigframe-bundle-"));
  try {
    const profile = join(dir, "zen4.json");
    const saved = sigframe(["layout", "amd-zen4", "--save-profile", profile]);
    assert.equal(saved.status, 0, saved.stderr);
    const fromFile = sigframe(["layout", profile, "--json"]);
    assert.equal(fromFile.status, 0, fromFile.stderr);
    const builtin = sigframe(["layout", "amd-zen4", "--json"]);
    assert.deepEqual(JSON.parse(fromFile.stdout).layout, JSON.parse(builtin.stdout).layout);
    const frame = join(dir, "frame.bin");
    assert.equal(sigframe(["build", "--cpu", profile, "-o", frame]).status, 0);
    const raw = sigframe(["scan", frame, "--base", "0x7ffffffde000", "--all", "--json"]);
    assert.equal(raw.status, 0, raw.stderr);
    assert.ok(JSON.parse(raw.stdout).summary.magic1Hits >= 1);
    const cp = join(REPO_ROOT, "..", "shared", "fixtures", "criu", "S2");
    if (existsSync(cp)) {
      const r = sigframe(["scan", cp, "--json"]);
      assert.equal(r.status, 0, r.stderr);
      assert.ok(JSON.parse(r.stdout).frames.some((f: { confidence: string }) => f.confidence === "high"));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the bundled serve finds the package's web/dist; the bundled host finds the native helper", async () => {
  const index = join(REPO_ROOT, "web", "dist", "index.html");
  const env = { ...process.env };
  delete env.SIGFRAME_WEB_DIST;
  const child = spawn(process.execPath, [bundledCli(), "serve", "--port", "0"], {
    cwd: REPO_ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stderr.on("data", (c) => {
    err += c;
  });
  const exited = new Promise<number | null>((ok) => child.on("exit", (code) => ok(code)));
  const url = await new Promise<string | undefined>((ok) => {
    child.stdout.on("data", (c) => {
      out += c;
      const m = /^sigframe explorer: (http:\/\/127\.0\.0\.1:\d+\/)$/m.exec(out);
      if (m) ok(m[1]!);
    });
    child.on("exit", () => ok(undefined));
  });
  try {
    if (existsSync(index)) {
      assert.ok(url, `serve did not start: ${err}`);
      const res = await fetch(url);
      assert.equal(res.status, 200);
      assert.equal(await res.text(), readFileSync(index, "utf8"));
    } else {
      assert.equal(url, undefined);
      assert.match(err, /web\/dist/);
    }
  } finally {
    child.kill("SIGTERM");
  }
  await exited;

  const status = helperStatus();
  const host = sigframe(["host", "--json"], { SIGFRAME_HELPER: undefined });
  if (status.ok) assert.equal(host.status, 0, host.stderr);
  else {
    assert.equal(host.status, 4);
    assert.ok(host.stderr.includes(status.reason), host.stderr);
  }
});
