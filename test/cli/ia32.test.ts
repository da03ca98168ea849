import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { sigframe as cli } from "../helpers/cli.ts";

const dir = mkdtempSync(join(tmpdir(), "sigframe-ia32-"));
const state = join(dir, "state.json");
writeFileSync(state, JSON.stringify({ eip: "0x8049000", ymm3: `0x${"22".repeat(32)}` }));
const frame = join(dir, "f32.bin");
const area = join(dir, "a32.bin");

describe("sigframe build/inspect/predict --ia32", () => {
  test("build --ia32 writes an rt_sigframe_ia32 with the area 276 bytes up", async () => {
    const r = await cli(["build", "--cpu", "intel-icelake-server", "--ia32", "--state", state, "-o", frame]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /kernel rt_sigframe_ia32/);
    assert.match(r.out, /fpstate at offset 276 .*extended_size 2812/);
    const b = readFileSync(frame);
    assert.equal(b.length, 276 + 112 + 2696 + 4);
    const a = await cli(["build", "--cpu", "intel-icelake-server", "--ia32", "--fpstate-only", "-o", area]);
    assert.equal(a.code, 0, a.err);
    assert.deepEqual(readFileSync(area).subarray(0, 112).length, 112);
    const bad = await cli([
      "build",
      "--cpu",
      "intel-icelake-server",
      "--ia32",
      "--style",
      "criu",
      "-o",
      area,
    ]);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--ia32 builds only the kernel style/);
  });

  test("inspect --ia32 detects the frame and names its fields", async () => {
    const r = await cli(["inspect", "--ia32", frame, "--cpu", "intel-icelake-server", "--json"]);
    assert.equal(r.code, 0, r.err);
    const doc = JSON.parse(r.out);
    assert.equal(doc.format, "ia32-frame");
    assert.equal(doc.frame.kind, "rt");
    assert.equal(doc.frame.mcontext.eip, "0x8049000");
    assert.equal(doc.fpstate.fsave.magic, "0x0");
    assert.equal(doc.fpstate.fxsave.swBytes.extendedSize, 2812);
    assert.deepEqual(doc.findings, []);
    const h = await cli(["inspect", "--ia32", "--frame", frame, "--hexdump"]);
    assert.equal(h.code, 0, h.err);
    assert.match(h.out, / eip@12/);
    assert.match(h.out, /fsave\/magic/);
    const t = await cli(["inspect", "--ia32", area]);
    assert.match(t.out, /ia32 FPU area \(detected\)/);
    assert.match(t.out, /FSAVE header, 112 bytes/);
    const wrong = await cli(["inspect", "--ia32", "--ucontext", frame]);
    assert.equal(wrong.code, 2);
  });

  test("predict --ia32: the ia32 path, offsets from the FSAVE header", async () => {
    const r = await cli([
      "predict",
      "--ia32",
      frame,
      "--cpu",
      "intel-icelake-server",
      "--policy",
      "classic",
      "--json",
    ]);
    assert.equal(r.code, 0, r.err);
    const p = JSON.parse(r.out);
    assert.equal(p.frame, "ia32");
    assert.equal(p.path, "xrstor");
    assert.equal(p.reason, "ia32-xstate-partial");
    const ymm = p.components.find((c: { name: string }) => c.name === "YMM");
    assert.deepEqual(ymm, { bit: 2, name: "YMM", result: "frame", offset: 112 + 576 });
    const text = await cli([
      "predict",
      "--ia32",
      area,
      "--cpu",
      "intel-icelake-server",
      "--policy",
      "classic",
    ]);
    assert.match(text.out, /MXCSR\s+frame\s+136/);
    // The same bytes read as a 64-bit FPU area are another frame entirely: FXRSTOR finds the
    // FSAVE header's fos (0xffff002b) where MXCSR would be.
    const as64 = await cli([
      "predict",
      "--fpstate-only",
      area,
      "--cpu",
      "intel-icelake-server",
      "--policy",
      "classic",
      "--json",
    ]);
    assert.equal(JSON.parse(as64.out).reason, "fxrstor-gp-mxcsr");
    assert.equal(JSON.parse(as64.out).frame, undefined);
  });

  test("a compacted header: SIGSEGV on ia32, exit 3 with --fail-on-loss", async () => {
    const b = readFileSync(area);
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    dv.setBigUint64(112 + 520, (1n << 63n) | 0x2e7n, true);
    const bad = join(dir, "compacted.bin");
    writeFileSync(bad, b);
    const r = await cli([
      "predict",
      "--ia32",
      bad,
      "--cpu",
      "intel-icelake-server",
      "--policy",
      "classic",
      "--fail-on-loss",
    ]);
    assert.equal(r.code, 3);
    assert.match(r.out, /SIGSEGV — ia32-header-xcomp-bv/);
    const i = await cli(["inspect", "--ia32", bad, "--cpu", "intel-icelake-server"]);
    assert.match(i.out, /error compacted-form \(fpstate\/fxsave\/header\/xcomp_bv\): .*ia32 path rejects/);
  });
});
