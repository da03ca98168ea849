/**
 * bin/sigframe.js as sh starts it (its own `#!/bin/sh`, npm's bin link, npx) and the code cache
 * that bin/bundle-loader.js loads the bundle with: the command behaves the same with and without
 * NODE_EXTRA_CA_CERTS, node itself starts without it, and a cache that does not belong to a bundle
 * file is never used. Speed itself is `npm run bench`.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { BUNDLE_DIR, bundledCli } from "../helpers/cli-bundle.ts";
import { REPO_ROOT } from "../helpers/shared.ts";

const require = createRequire(import.meta.url);
const { BundleLoader } = require("../../bin/bundle-loader.js") as {
  BundleLoader: new (
    dir: string,
    options?: { useCache?: boolean },
  ) => { load(file: string): unknown; cacheUse: Map<string, string> };
};

/** Runs the launcher as a command (sh reads its `#!`), not as `node bin/sigframe.js`. */
function command(path: string, args: string[], env: Record<string, string | undefined>) {
  const e = { ...process.env, ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete e[k];
  return spawnSync(path, args, { encoding: "utf8", env: e });
}

test("sh runs the launcher: the same output with and without NODE_EXTRA_CA_CERTS, through a bin link too", () => {
  const cli = bundledCli();
  const dir = mkdtempSync(join(tmpdir(), "sigframe-launcher-"));
  try {
    // npm's bin link: a symlink in another folder (node_modules/.bin/sigframe).
    const link = join(dir, "sigframe");
    symlinkSync(cli, link);
    const certs = join(dir, "extra-ca.pem");
    writeFileSync(certs, "");
    const plain = command(cli, ["layout", "amd-zen4", "--json"], { NODE_EXTRA_CA_CERTS: undefined });
    assert.equal(plain.status, 0, plain.stderr);
    for (const path of [cli, link]) {
      const r = command(path, ["layout", "amd-zen4", "--json"], { NODE_EXTRA_CA_CERTS: certs });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, plain.stdout);
      assert.equal(r.stderr, "");
      const v = command(path, ["--version"], { NODE_EXTRA_CA_CERTS: certs });
      assert.equal(
        v.stdout,
        `${JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")).version}\n`,
      );
      const bad = command(path, ["layout", "no-such-cpu"], { NODE_EXTRA_CA_CERTS: certs });
      assert.equal(bad.status, 2);
      assert.match(bad.stderr, /^sigframe: no-such-cpu: .*\n$/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("node starts without NODE_EXTRA_CA_CERTS; the value is kept for the programs sigframe starts", async () => {
  const cli = bundledCli();
  const env: Record<string, string | undefined> = {
    ...process.env,
    NODE_EXTRA_CA_CERTS: "/nonexistent/extra-ca.pem",
  };
  delete env.SIGFRAME_NODE_EXTRA_CA_CERTS;
  const child = spawn(cli, ["serve", "--port", "0"], { env, stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise((ok) => child.on("exit", ok));
  try {
    // Once serve has printed its address, the process is node running the bundle.
    await new Promise<void>((ok, fail) => {
      let out = "";
      child.stdout.on("data", (c) => {
        out += c;
        if (out.includes("\n")) ok();
      });
      child.on("exit", () => fail(new Error(`serve exited: ${out}`)));
    });
    // The environment node was started with (sh exec'd it in the same process).
    const environ = readFileSync(`/proc/${child.pid}/environ`, "utf8").split("\0");
    assert.ok(
      !environ.some((e) => e.startsWith("NODE_EXTRA_CA_CERTS=")),
      "node started with the certificates",
    );
    assert.ok(environ.includes("SIGFRAME_NODE_EXTRA_CA_CERTS=/nonexistent/extra-ca.pem"));
    assert.match(readFileSync(`/proc/${child.pid}/cmdline`, "utf8"), /node\0.*sigframe\.js\0serve\0/);
  } finally {
    child.kill("SIGTERM");
  }
  await exited;
});

/** A CRIU pstree.img: IMG_COMMON magic, PSTREE magic, one entry (pid, ppid, pgid, sid, threads). */
function pstreeImage(pid: number): Buffer {
  const entry = [0x08, pid, 0x10, 0, 0x18, pid, 0x20, pid, 0x28, pid];
  const b = Buffer.alloc(12 + entry.length);
  b.writeUInt32LE(0x54564319, 0);
  b.writeUInt32LE(0x50273030, 4);
  b.writeUInt32LE(entry.length, 8);
  Buffer.from(entry).copy(b, 12);
  return b;
}

test("installed under paths with spaces, started through a bin link from another folder: arguments, stdin, exit codes", () => {
  bundledCli();
  const dir = mkdtempSync(join(tmpdir(), "sigframe launcher "));
  try {
    // The package as npm installs it (bin/, dist/bundle/, package.json), in a folder with spaces,
    // and npm's bin link to it in another such folder.
    const pkg = join(dir, "node modules", "sigframe");
    cpSync(join(REPO_ROOT, "bin"), join(pkg, "bin"), { recursive: true });
    cpSync(BUNDLE_DIR, join(pkg, "dist", "bundle"), { recursive: true, preserveTimestamps: true });
    cpSync(join(REPO_ROOT, "package.json"), join(pkg, "package.json"));
    mkdirSync(join(dir, "bin dir"));
    symlinkSync(join(pkg, "bin", "sigframe.js"), join(dir, "bin dir", "sigframe"));
    const work = join(dir, "work dir");
    mkdirSync(work);
    writeFileSync(join(work, "pstree one.img"), pstreeImage(7));
    const run = (args: string[], input?: Buffer) =>
      spawnSync("../bin dir/sigframe", args, { cwd: work, input, encoding: "utf8" });

    const fromFile = run(["criu", "show", "pstree one.img", "--json"]);
    assert.equal(fromFile.status, 0, fromFile.stderr);
    assert.equal((JSON.parse(fromFile.stdout) as { magic: string }).magic, "PSTREE");
    const fromStdin = run(["criu", "show", "-", "--json"], pstreeImage(7));
    assert.equal(fromStdin.status, 0, fromStdin.stderr);
    assert.equal(fromStdin.stdout, fromFile.stdout);
    // An argument with a space and a quote arrives as one argument.
    const missing = run(["criu", "show", `no such "file".img`]);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /^sigframe: no such "file"\.img: .*\n$/);
    assert.equal(missing.stdout, "");
    const usage = run(["no-such-command"]);
    assert.equal(usage.status, 2, usage.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("sh hands over to node in the same process: a signal reaches node", async () => {
  const child = spawn(bundledCli(), ["criu", "show", "-"], { stdio: ["pipe", "ignore", "ignore"] });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((ok) =>
    child.on("exit", (code, signal) => ok({ code, signal })),
  );
  try {
    // criu show - waits for stdin; the process (sh's pid) is node once sh has exec'd it. Bounded poll.
    let cmdline = "";
    for (let i = 0; i < 400 && !/node\0.*sigframe\.js\0criu\0/.test(cmdline); i++) {
      await new Promise((ok) => setTimeout(ok, 25));
      cmdline = readFileSync(`/proc/${child.pid}/cmdline`, "utf8");
    }
    assert.match(cmdline, /node\0.*sigframe\.js\0criu\0show\0-\0$/);
  } finally {
    child.kill("SIGTERM");
  }
  assert.deepEqual(await exited, { code: null, signal: "SIGTERM" });
});

test("node puts NODE_EXTRA_CA_CERTS back for the programs it starts, and only what sh kept", () => {
  const probe = join(mkdtempSync(join(tmpdir(), "sigframe-launcher-")), "env.cjs");
  try {
    // Preloaded into the CLI's node: prints, at exit, what a child process would inherit.
    writeFileSync(
      probe,
      `process.on("exit", () => process.stderr.write(JSON.stringify([process.env.NODE_EXTRA_CA_CERTS ?? null, process.env.SIGFRAME_NODE_EXTRA_CA_CERTS ?? null]) + "\\n"));`,
    );
    const cli = bundledCli();
    const envOf = (env: Record<string, string | undefined>) => {
      const e: Record<string, string | undefined> = { ...process.env, ...env };
      for (const [k, v] of Object.entries(env)) if (v === undefined) delete e[k];
      const r = spawnSync(process.execPath, ["--require", probe, cli, "layout", "amd-zen4", "--json"], {
        encoding: "utf8",
        env: e,
      });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stderr.trim().split("\n").pop()!) as [string | null, string | null];
    };
    // As sh leaves it: the value moved aside; node puts it back and drops the copy.
    assert.deepEqual(envOf({ NODE_EXTRA_CA_CERTS: undefined, SIGFRAME_NODE_EXTRA_CA_CERTS: "/x/ca.pem" }), [
      "/x/ca.pem",
      null,
    ]);
    // Set but empty stays set and empty.
    assert.deepEqual(envOf({ NODE_EXTRA_CA_CERTS: undefined, SIGFRAME_NODE_EXTRA_CA_CERTS: "" }), ["", null]);
    // Started as `node bin/sigframe.js` (no sh): the environment is left as given.
    assert.deepEqual(envOf({ NODE_EXTRA_CA_CERTS: "/y/ca.pem", SIGFRAME_NODE_EXTRA_CA_CERTS: undefined }), [
      "/y/ca.pem",
      null,
    ]);
  } finally {
    rmSync(dirname(probe), { recursive: true, force: true });
  }
});

test("a bundle without dist/ still answers --version and says it is not built, through sh", () => {
  const dir = mkdtempSync(join(tmpdir(), "sigframe-launcher-"));
  try {
    cpSync(join(REPO_ROOT, "bin"), join(dir, "bin"), { recursive: true });
    cpSync(join(REPO_ROOT, "package.json"), join(dir, "package.json"));
    const bin = join(dir, "bin", "sigframe.js");
    assert.ok(statSync(bin).mode & 0o100, "bin/sigframe.js is executable");
    const v = command(bin, ["--version"], {});
    assert.equal(v.status, 0, v.stderr);
    const r = command(bin, ["layout", "amd-zen4"], {});
    assert.equal(r.status, 4);
    assert.equal(r.stderr, "sigframe: dist/bundle/sigframe.js: the CLI is not built: run 'npm run build'\n");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the code cache is used for the files it was made from, and never for another file", () => {
  bundledCli();
  const dir = mkdtempSync(join(tmpdir(), "sigframe-cache-"));
  try {
    const bundle = join(dir, "bundle");
    cpSync(BUNDLE_DIR, bundle, { recursive: true, preserveTimestamps: true });
    const train = join(bundle, "train.js");
    const fresh = new BundleLoader(bundle);
    fresh.load(train);
    const uses = [...fresh.cacheUse.values()];
    assert.ok(uses.length >= 2);
    // Other V8 flags in this process would make V8 reject it all: only then is none accepted.
    assert.ok(
      uses.every((u) => u === "accepted" || u === "rejected"),
      uses.join(),
    );

    // The entry's chunk edited in place (same size, new mtime), another chunk's cache cut short.
    const [edited, cut] = [...fresh.cacheUse.keys()].filter((f) => f.includes("/chunks/"));
    assert.ok(edited && cut);
    const src = readFileSync(edited!, "utf8");
    assert.ok(src.endsWith("\n"));
    writeFileSync(edited!, `${src.slice(0, -1)} `);
    assert.equal(statSync(edited!).size, Buffer.byteLength(src));
    const cutCache = join(bundle, "code-cache", `${cut!.slice(bundle.length + 1)}.v8`);
    // Half of V8's data cut off (after the cache's header and its copy of the source): V8 refuses it.
    const v8Bytes = statSync(cutCache).size - 8 - statSync(cut!).size;
    assert.ok(v8Bytes > 0);
    truncateSync(cutCache, statSync(cutCache).size - (v8Bytes >> 1));
    const child = spawnSync(
      process.execPath,
      [
        "-e",
        `const { BundleLoader } = require(${JSON.stringify(join(REPO_ROOT, "bin", "bundle-loader.js"))});
         const l = new BundleLoader(${JSON.stringify(bundle)});
         const t = l.load(${JSON.stringify(train)});
         const io = t.memoryIo();
         t.run(["layout", "amd-zen4", "--json"], io).then((code) => {
           process.stdout.write(JSON.stringify({ code, out: io.out, use: Object.fromEntries(l.cacheUse) }));
         });`,
      ],
      { encoding: "utf8" },
    );
    assert.equal(child.status, 0, child.stderr);
    const got = JSON.parse(child.stdout) as { code: number; out: string; use: Record<string, string> };
    assert.equal(got.use[edited!], "stale");
    assert.equal(got.use[cut!], "rejected");
    assert.equal(got.code, 0);
    const expected = spawnSync(process.execPath, [bundledCli(), "layout", "amd-zen4", "--json"], {
      encoding: "utf8",
    });
    assert.equal(got.out, expected.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
