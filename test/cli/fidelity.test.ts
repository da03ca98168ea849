/**
 * Where a real process dies or loses state after a restore, at the CLI: PKRU locking key 0,
 * frames cut at a guard page, sigaltstacks too small for the destination's frame, glibc's
 * lazy-binding XSAVE area.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { sigframe as cli } from "../helpers/cli.ts";
import { FIXTURES, needs } from "../helpers/shared.ts";

const dir = mkdtempSync(join(tmpdir(), "sigframe-fidelity-"));

describe("PKRU that locks protection key 0", () => {
  const state = join(dir, "pkru.json");
  const frame = join(dir, "pkru.bin");
  writeFileSync(state, JSON.stringify({ ymm1: "0x1234", pkru: "0x1c0011" }));

  test("build warns, inspect reports, predict answers SIGSEGV with SEGV_PKUERR", async () => {
    const b = await cli([
      "build",
      "--cpu",
      "intel-icelake-server",
      "--state",
      state,
      "--fpstate-only",
      "-o",
      frame,
    ]);
    assert.equal(b.code, 0, b.err);
    assert.match(b.err, /^sigframe: warning: PKRU 0x1c0011 sets access-disable for protection key 0/m);

    const i = await cli(["inspect", frame, "--cpu", "intel-icelake-server", "--json"]);
    assert.ok(
      JSON.parse(i.out).findings.some((f: { code: string }) => f.code === "pkru-locks-key0"),
      i.out,
    );

    const p = await cli(["predict", frame, "--cpu", "intel-icelake-server", "--policy", "classic", "--json"]);
    assert.equal(p.code, 0, p.err);
    const j = JSON.parse(p.out);
    assert.equal(j.signal, "SIGSEGV");
    assert.equal(j.siCode, 4);
    assert.equal(j.pkru, "0x1c0011");
    assert.equal(j.reason, "pkru-locks-key0");
    assert.equal(j.path, "xrstor");

    const human = await cli([
      "predict",
      frame,
      "--cpu",
      "intel-icelake-server",
      "--policy",
      "refined",
      "--fail-on-loss",
    ]);
    assert.equal(human.code, 3);
    assert.match(human.out, /XRSTOR, then SIGSEGV \(si_code 4\)/);
  });

  test("translate to another layout notes the source's PKRU", async () => {
    const out = join(dir, "pkru-zen4.bin");
    const t = await cli([
      "translate",
      frame,
      "--from",
      "intel-icelake-server",
      "--to",
      "amd-zen4",
      "-o",
      out,
    ]);
    assert.match(`${t.out}\n${t.err}`, /protection key 0/);
    void readFileSync;
  });
});

describe("a frame that ends where memory ends (--readable-bytes)", () => {
  const state = join(dir, "zmm.json");
  writeFileSync(state, JSON.stringify({ ymm1: `0x${"33".repeat(32)}`, zmm17: `0x${"44".repeat(64)}` }));
  const full = join(dir, "icx.bin");
  const cut = (n: number, name = `cut${n}.bin`) => {
    const p = join(dir, name);
    writeFileSync(p, readFileSync(full).subarray(0, n));
    return p;
  };

  test("cut before magic2: a prediction per policy, not an input error", async () => {
    const b = await cli([
      "build",
      "--cpu",
      "intel-icelake-server",
      "--state",
      state,
      "--fpstate-only",
      "-o",
      full,
    ]);
    assert.equal(b.code, 0, b.err);
    const f = cut(2000);
    const r = await cli([
      "predict",
      f,
      "--cpu",
      "intel-icelake-server",
      "--all-policies",
      "--readable-bytes",
      "2000",
      "--json",
    ]);
    assert.equal(r.code, 0, r.err);
    const by = Object.fromEntries(
      JSON.parse(r.out).predictions.map((p: { policy: string }) => [p.policy, p]),
    );
    assert.equal(by.classic.path, "fault");
    assert.equal(by.classic.reason, "magic2-unreadable");
    assert.equal(by.classic.siCode, 128);
    assert.equal(by.refined.reason, "magic2-unreadable");
    assert.equal(by.legacy.path, "fxrstor-fallback");
    const human = await cli([
      "predict",
      f,
      "--cpu",
      "intel-icelake-server",
      "--policy",
      "classic",
      "--readable-bytes",
      "2000",
    ]);
    assert.match(
      human.out,
      /^mapped: 2000 bytes from the fpstate on \(--readable-bytes\); a kernel read past them faults$/m,
    );
  });

  test("without --readable-bytes the file's end asks for more bytes, and says how to get a prediction", async () => {
    const r = await cli(["predict", cut(2000), "--cpu", "intel-icelake-server", "--policy", "classic"]);
    assert.equal(r.code, 2);
    assert.equal(r.out, "");
    assert.match(
      r.err,
      /^sigframe: .*magic2.*input ends at 2000 bytes.*--readable-bytes N for a prediction\n$/,
    );
  });

  test("cut before the software bytes, or with components past the mapped bytes", async () => {
    const r = await cli([
      "predict",
      cut(300),
      "--cpu",
      "intel-icelake-server",
      "--fpstate-only",
      "--all-policies",
      "--readable-bytes",
      "300",
      "--json",
    ]);
    assert.equal(r.code, 0, r.err);
    const by = Object.fromEntries(
      JSON.parse(r.out).predictions.map((p: { policy: string }) => [p.policy, p]),
    );
    assert.equal(by.classic.reason, "sw-bytes-unreadable");
    assert.equal(by.legacy.reason, "fxrstor-fault");
    // xstate_size 832 with magic2 there, AVX-512 still asked for: XRSTOR reads Hi16_ZMM past 1500.
    const small = new Uint8Array(readFileSync(full));
    const dv = new DataView(small.buffer);
    dv.setUint32(480, 832, true);
    dv.setUint32(468, 836, true);
    dv.setUint32(832, 0x46505845, true);
    const p = join(dir, "small.bin");
    writeFileSync(p, small.subarray(0, 1500));
    const x = await cli([
      "predict",
      p,
      "--cpu",
      "intel-icelake-server",
      "--policy",
      "classic",
      "--readable-bytes",
      "1500",
      "--json",
    ]);
    assert.equal(x.code, 0, x.err);
    const j = JSON.parse(x.out);
    assert.equal(j.reason, "xrstor-fault");
    assert.equal(j.signal, "SIGSEGV");
  });

  test("a whole rt_sigframe cut at a guard page", async () => {
    const frame = join(dir, "frame.bin");
    const b = await cli([
      "build",
      "--cpu",
      "intel-icelake-server",
      "--state",
      state,
      "--base",
      "0x7ffffff00008",
      "-o",
      frame,
    ]);
    assert.equal(b.code, 0, b.err);
    const p = join(dir, "frame-cut.bin");
    writeFileSync(p, readFileSync(frame).subarray(0, 2000));
    const r = await cli([
      "predict",
      p,
      "--frame",
      "--base",
      "0x7ffffff00008",
      "--cpu",
      "intel-icelake-server",
      "--policy",
      "classic",
      "--readable-bytes",
      "1552",
      "--json",
    ]);
    assert.equal(r.code, 0, r.err);
    assert.equal(JSON.parse(r.out).reason, "magic2-unreadable");
  });
});

describe("check: glibc's XSAVE area and sigaltstacks after migration", () => {
  test("amd-zen4 → intel-sapphirerapids: glibc_xsave_size is a warning, with the conditions and the fixes", async () => {
    const r = await cli([
      "check",
      "--from",
      "amd-zen4",
      "--to",
      "intel-sapphirerapids",
      "--policy",
      "classic",
      "--json",
    ]);
    const j = JSON.parse(r.out);
    const g = j.findings.find((f: { code: string }) => f.code === "glibc_xsave_size");
    assert.ok(g, r.out);
    assert.equal(g.severity, "warning");
    assert.match(g.message, /lazily bound/);
    assert.match(g.hint, /LD_BIND_NOW=1/);
    assert.match(g.hint, /-z now/);
    assert.ok(j.to.frameBytes > j.from.frameBytes);
    assert.ok(j.to.atMinSigStkSz > j.from.atMinSigStkSz);
    const human = await cli([
      "check",
      "--from",
      "amd-zen4",
      "--to",
      "intel-sapphirerapids",
      "--policy",
      "classic",
    ]);
    assert.match(
      human.out,
      /^ {2}signal frames {2}up to \d+ bytes of stack on amd-zen4 \(AT_MINSIGSTKSZ \d+\), up to \d+ on intel-sapphirerapids/m,
    );
  });

  test(
    "check --checkpoint passes each thread's sigaltstack: S4's 64 KiB one holds any frame",
    needs(join(FIXTURES, "criu", "S4"), "fixture S4"),
    async () => {
      const r = await cli([
        "check",
        "--checkpoint",
        join(FIXTURES, "criu", "S4"),
        "--to",
        "intel-sapphirerapids",
        "--policy",
        "classic",
        "--json",
      ]);
      const j = JSON.parse(r.out);
      assert.ok(!j.findings.some((f: { code: string }) => f.code === "sigaltstack_too_small"), r.out);
    },
  );
});
