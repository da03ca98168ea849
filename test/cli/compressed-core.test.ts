/**
 * `scan` and `check --core` on cores as systemd-coredump stores them: the fixtures' kernel-written
 * cores compressed at test time with Debian's zstd, xz and lz4 give exactly what the plain core
 * gives; cores on stdin (compressed or not) are streamed.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { builtinProfile } from "../../src/core/profiles/detect.ts";
import { computeLayout } from "../../src/core/xsave/layout.ts";
import { sf } from "../helpers/cli.ts";
import { elfCore, simulate } from "../helpers/process-core.ts";
import { FIXTURES, needs, REPO_ROOT } from "../helpers/shared.ts";

const tmp = mkdtempSync(join(tmpdir(), "sigframe-zcore-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
const has = (tool: string) => !spawnSync(tool, ["--version"]).error;
const TOOLS: [string, string, string[]][] = [
  ["zst", "zstd", ["-q", "-c"]],
  ["xz", "xz", ["-c", "-T1"]],
  ["lz4", "lz4", ["-q", "-c"]],
];

function compressFile(src: string, ext: string, tool: string, args: string[]): string {
  const r = spawnSync(tool, [...args, src], { maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, String(r.stderr));
  const out = join(tmp, `${src.split("/").pop()}.${ext}`);
  writeFileSync(out, r.stdout);
  return out;
}

/** A JSON document with the input's name (path, profile name, check names) made the same. */
function sameNames(text: string, path: string, as: string): unknown {
  const base = (p: string) => p.split("/").pop()!;
  const swap = (v: unknown): unknown => {
    if (typeof v === "string") {
      if (v === path) return as;
      return path.length > 1 ? v.split(path).join(as).split(base(path)).join(base(as)) : v;
    }
    if (Array.isArray(v)) return v.map(swap);
    if (v && typeof v === "object")
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, swap(x)]));
    return v;
  };
  const j = swap(JSON.parse(text)) as { target?: Record<string, unknown> };
  if (j.target) {
    delete j.target.compression;
    // A profile read from stdin is named after it.
    if (path === "-" && j.target.profile === "-") j.target.profile = as;
  }
  return j;
}

describe(
  "the fixtures' kernel cores, compressed as systemd-coredump stores them",
  needs(FIXTURES, "signal-frame fixtures"),
  () => {
    for (const s of ["S1", "S2", "S3", "S4", "S5", "S6", "S7"]) {
      test(`${s}: scan and check --core of .zst, .xz and .lz4 are the plain core's`, async (t) => {
        const plain = join(FIXTURES, "core", `${s}.kernel.core`);
        const want = await sf("scan", plain, "--json");
        assert.equal(want.code, 0, want.err);
        const wantCheck = await sf(
          "check",
          "--core",
          plain,
          "--to",
          "intel-icelake-server",
          "--policy",
          "classic",
          "--json",
        );
        for (const [ext, tool, args] of TOOLS) {
          if (!has(tool)) {
            t.diagnostic(`${tool} is not installed: .${ext} not tested`);
            continue;
          }
          const z = compressFile(plain, ext, tool, args);
          const got = await sf("scan", z, "--json");
          assert.equal(got.code, 0, `${ext}: ${got.err}`);
          assert.equal(JSON.parse(got.out).target.compression, tool);
          assert.deepEqual(sameNames(got.out, z, plain), JSON.parse(want.out), ext);
          const text = await sf("scan", z);
          assert.match(text.out, new RegExp(`ELF core \\(${tool}-compressed\\)`));
          const check = await sf(
            "check",
            "--core",
            z,
            "--to",
            "intel-icelake-server",
            "--policy",
            "classic",
            "--json",
          );
          assert.equal(check.code, wantCheck.code, check.err);
          assert.deepEqual(sameNames(check.out, z, plain), JSON.parse(wantCheck.out), ext);
        }
      });
    }
  },
);

describe("cores and archives on stdin", () => {
  const runner = join(tmp, "run-cli.mjs");
  before(() => {
    writeFileSync(
      runner,
      `const { run } = await import(${JSON.stringify(join(REPO_ROOT, "src/cli/main.ts"))});\n` +
        `const { processIo } = await import(${JSON.stringify(join(REPO_ROOT, "src/node/process-io.ts"))});\n` +
        "process.exitCode = await run(process.argv.slice(2), processIo());\n",
    );
  });
  const cli = (args: string[], input: Uint8Array) =>
    spawnSync(process.execPath, ["--import", "tsx", runner, ...args], {
      input,
      encoding: "utf8",
      timeout: 60_000,
      cwd: REPO_ROOT,
    });
  const l = computeLayout(builtinProfile("intel-sapphirerapids"));
  const STACK = 0x7ffffffde000n;
  const p = simulate(
    l,
    [{ tid: 88, sp: STACK + 0x20000n, signals: [{ signo: 10 }] }],
    [{ start: STACK, size: 0x21000 }],
  );
  const core = elfCore(p, { mainStack: STACK + 0x20f00n });

  test("scan - takes a core, plain or compressed, and says what it read", async (t) => {
    const path = join(tmp, "sim.core");
    writeFileSync(path, core);
    const want = await sf("scan", path, "--json");
    assert.equal(want.code, 0, want.err);
    const inputs: [string, Uint8Array][] = [["plain", core]];
    if (has("zstd"))
      inputs.push(["zstd", new Uint8Array(readFileSync(compressFile(path, "zst", "zstd", ["-q", "-c"])))]);
    else t.diagnostic("zstd is not installed");
    for (const [what, input] of inputs) {
      const r = cli(["scan", "-", "--json"], input);
      assert.equal(r.status, 0, `${what}: ${r.stderr}`);
      const got = JSON.parse(r.stdout);
      assert.equal(got.summary.liveFrames, 1);
      assert.equal(got.target.compression, what === "plain" ? undefined : what);
      assert.deepEqual(sameNames(r.stdout, "-", path), JSON.parse(want.out), what);
    }
  });

  test("a raw image on stdin still needs a file (one line, exit 2)", () => {
    const r = cli(["scan", "-"], new Uint8Array(8192).fill(0x41));
    assert.equal(r.status, 2);
    assert.equal(r.stdout, "");
    assert.match(
      r.stderr.trimEnd(),
      /^sigframe: -: a raw memory image on stdin: scanning it needs random access, give a file$/,
    );
  });

  test("compressed data that is neither a core nor an archive: one line, exit 2", async (t) => {
    if (!has("zstd")) return t.skip("zstd is not installed");
    const txt = join(tmp, "notes.txt");
    writeFileSync(txt, "hello\n".repeat(200));
    const z = compressFile(txt, "zst", "zstd", ["-q", "-c"]);
    for (const argv of [
      ["scan", z],
      ["check", "--core", z, "--to", "amd-zen4"],
      ["check", "--checkpoint", z, "--to", "amd-zen4"],
    ]) {
      const r = await sf(...argv);
      assert.equal(r.code, 2, r.err);
      assert.equal(r.out, "");
      assert.match(
        r.err.trimEnd(),
        /^sigframe: \S+: zstd-compressed data that holds neither a checkpoint archive \(tar\) nor an ELF core$/,
      );
    }
  });

  test("check --checkpoint with a compressed core, --core with nothing of the kind: the right option named", async (t) => {
    if (!has("xz")) return t.skip("xz is not installed");
    const path = join(tmp, "sim2.core");
    writeFileSync(path, core);
    const z = compressFile(path, "xz", "xz", ["-c", "-T1"]);
    const r = await sf("check", "--checkpoint", z, "--to", "amd-zen4");
    assert.equal(r.code, 2);
    assert.match(r.err, /is a xz-compressed ELF core; --checkpoint takes .*\(give it as --core\)$/m);
  });
});

describe("native decompressors and the in-process ones give the same answers", () => {
  const l = computeLayout(builtinProfile("amd-zen4"));
  const STACK = 0x7ffffffde000n;
  const p = simulate(
    l,
    [{ tid: 77, sp: STACK + 0x20000n, signals: [{ signo: 10, regs: { k2: "0x3" } }] }],
    [{ start: STACK, size: 0x21000 }],
  );
  const core = join(tmp, "native.core");
  before(() => writeFileSync(core, elfCore(p, { mainStack: STACK + 0x20f00n })));
  const withEnv = async (value: string | undefined, argv: string[]) => {
    const old = process.env.SIGFRAME_DECOMPRESS;
    if (value === undefined) delete process.env.SIGFRAME_DECOMPRESS;
    else process.env.SIGFRAME_DECOMPRESS = value;
    try {
      return await sf(...argv);
    } finally {
      if (old === undefined) delete process.env.SIGFRAME_DECOMPRESS;
      else process.env.SIGFRAME_DECOMPRESS = old;
    }
  };
  for (const [ext, tool, args] of [...TOOLS, ["gz", "gzip", ["-c"]] as [string, string, string[]]]) {
    test(`${tool}: scan with Debian's ${tool} (or zlib) and in-process give one document; a cut file is one line`, async (t) => {
      if (!has(tool)) return t.skip(`${tool} is not installed`);
      const z = compressFile(core, ext, tool, args);
      const native = await withEnv(undefined, ["scan", z, "--json"]);
      const inProcess = await withEnv("in-process", ["scan", z, "--json"]);
      assert.equal(native.code, 0, native.err);
      assert.equal(native.out, inProcess.out);
      assert.equal(JSON.parse(native.out).target.compression, tool);
      assert.equal(JSON.parse(native.out).summary.liveFrames, 1);
      const bytes = readFileSync(z);
      const cut = join(tmp, `cut-native.core.${ext}`);
      writeFileSync(cut, bytes.subarray(0, bytes.length >> 1));
      for (const mode of [undefined, "in-process"]) {
        const r = await withEnv(mode, ["scan", cut]);
        assert.equal(r.code, 2, `${mode}: ${r.err}`);
        assert.equal(r.out, "");
        assert.equal(r.err.trimEnd().split("\n").length, 1, r.err);
        assert.match(r.err, /^sigframe: /);
      }
    });
  }
});
