import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { memoryIo } from "../../src/cli/context.ts";
import { run } from "../../src/cli/main.ts";
import { assertWellFormedSvg } from "../helpers/svg.ts";

const dir = mkdtempSync(join(tmpdir(), "sigframe-inspect-"));

async function cli(args: string[]) {
  const io = memoryIo();
  const code = await run(args, io);
  return { code, out: io.out, err: io.err };
}

describe("sigframe inspect", () => {
  const k = join(dir, "k.bin");
  const st = join(dir, "st.json");
  writeFileSync(st, JSON.stringify({ rip: "0x401000", k1: "0xff", zmm17: `0x${"ab".repeat(64)}` }));

  test("a kernel frame: every field decoded at the CPU's offsets, no findings", async () => {
    assert.equal((await cli(["build", "--cpu", "amd-zen4", "--state", st, "-o", k])).code, 0);
    const r = await cli(["inspect", k, "--cpu", "amd-zen4", "--json"]);
    assert.equal(r.code, 0, r.err);
    const doc = JSON.parse(r.out);
    assert.equal(doc.format, "frame");
    assert.equal(doc.frame.mcontext.rip, "0x401000");
    const opmask = doc.fpstate.components.find((c: { name: string }) => c.name === "OPMASK");
    assert.equal(opmask.offset, 832);
    assert.equal(opmask.registers.k1, "0xff");
    const hi16 = doc.fpstate.components.find((c: { name: string }) => c.name === "Hi16_ZMM");
    assert.equal(hi16.registers.zmm17, `0x${"ab".repeat(64)}`);
    assert.deepEqual(
      doc.findings.filter((f: { severity: string }) => f.severity !== "info"),
      [],
    );
  });

  test("inconsistencies are flagged: extended_size, xstate_bv ⊄ xfeatures, misaligned, magic2", async () => {
    const b = Uint8Array.from(readFileSync(k));
    const dv = new DataView(b.buffer);
    const fp = 456;
    dv.setUint32(fp + 468, 100, true); // extended_size < xstate_size
    dv.setBigUint64(fp + 472, 0x7n, true); // xfeatures without the AVX-512 bits xstate_bv has
    dv.setUint32(fp + 2440, 0, true); // magic2 gone
    const bad = join(dir, "bad.bin");
    writeFileSync(bad, b);
    const r = await cli(["inspect", bad, "--cpu", "amd-zen4", "--json"]);
    assert.equal(r.code, 0, r.err);
    const codes = JSON.parse(r.out).findings.map((f: { code: string }) => f.code);
    for (const c of ["extended-size-mismatch", "xstate-bv-not-in-xfeatures", "magic2-missing"])
      assert.ok(codes.includes(c), c);
    // Its FPU area alone, said to sit at an address that is 16- but not 64-byte aligned.
    const area = join(dir, "area.bin");
    writeFileSync(area, b.subarray(fp));
    const mis = await cli([
      "inspect",
      area,
      "--fpstate-only",
      "--cpu",
      "amd-zen4",
      "--json",
      "--base",
      "0x1010",
    ]);
    assert.equal(mis.code, 0, mis.err);
    assert.ok(JSON.parse(mis.out).findings.some((f: { code: string }) => f.code === "fpstate-misaligned"));
  });

  test("--svg draws every component at the CPU's offsets, in use or init, and magic2", async () => {
    const built = join(dir, "svg.bin");
    assert.equal((await cli(["build", "--cpu", "intel-icelake-server", "--state", st, "-o", built])).code, 0);
    const r = await cli(["inspect", built, "--cpu", "intel-icelake-server", "--svg"]);
    assert.equal(r.code, 0, r.err);
    assertWellFormedSvg(r.out);
    // k1 and zmm17 were set: OPMASK and Hi16_ZMM hold state; ZMM_Hi256 is init.
    assert.match(r.out, />OPMASK@1088</);
    assert.match(r.out, />Hi16_ZMM@1664</);
    assert.match(r.out, />ZMM_Hi256@1152 \(init\)</);
    assert.match(r.out, />magic2@2696</);
    const other = await cli(["inspect", built, "--cpu", "amd-zen4", "--svg"]);
    assertWellFormedSvg(other.out);
    assert.match(other.out, />OPMASK@832/);
    assert.match(other.out, /error: xstate_size 2696 &gt; this task's user_size 2440/);
    for (const [cmd, args] of [
      ["layout", ["intel-sapphirerapids", "--amx"]],
      ["diff", ["amd-zen5", "intel-icelake-server"]],
    ] as const) {
      const s = await cli([cmd, ...args, "--svg"]);
      assert.equal(s.code, 0, s.err);
      assertWellFormedSvg(s.out);
    }
  });

  test("--hexdump names the field of each byte", async () => {
    const r = await cli(["inspect", k, "--cpu", "amd-zen4", "--hexdump"]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^\S+ {2}(00 ){8}53 58 50 46 .* sw_bytes\/magic1@8/m);
    assert.match(r.out, / rip@\d+/);
    assert.match(r.out, /OPMASK\/k1@\d+/);
  });

  test("truncated frame: the contract's one line, exit 2", async () => {
    const t = join(dir, "t.bin");
    writeFileSync(t, readFileSync(k).subarray(0, 300));
    const r = await cli(["inspect", t, "--frame"]);
    assert.equal(r.code, 2);
    assert.match(r.err, /^sigframe: .*t\.bin: 0x12c:frame: input ends at 300 bytes/);
  });

  test("a pwntools payload is detected by its length", async () => {
    const p = join(dir, "p.bin");
    assert.equal((await cli(["build", "--style", "pwntools", "-o", p])).code, 0);
    const r = await cli(["inspect", p, "--json"]);
    const doc = JSON.parse(r.out);
    assert.equal(doc.format, "ucontext");
    assert.equal(doc.frame.mcontext.cs, "0x33");
    assert.ok(doc.findings.some((f: { code: string }) => f.code === "fpstate-null"));
  });
});

describe("inspect --cpu checks MXCSR against that CPU's MXCSR_MASK, as predict does", () => {
  const d = mkdtempSync(join(tmpdir(), "sigframe-inspect-mxcsr-"));
  const st = join(d, "st.json");
  writeFileSync(st, JSON.stringify({ mxcsr: "0x21f80" })); // MM (bit 17): AMD with MisAlignSse only
  const f = join(d, "amd.bin");
  const mxcsrFinding = (out: string) =>
    JSON.parse(out).findings.find((x: { code: string }) => x.code === "mxcsr-reserved-bits");

  test("an AMD frame with MM set, read as an Intel CPU: the Intel mask (0xffff) rejects it", async () => {
    assert.equal((await cli(["build", "--cpu", "amd-zen4", "--state", st, "-o", f])).code, 0);
    // The frame's own mxcsr_mask field, as a Zen 4's FXSAVE stores it (0x2ffff), would let it through.
    const bytes = Uint8Array.from(readFileSync(f));
    new DataView(bytes.buffer).setUint32(456 + 28, 0x2ffff, true);
    writeFileSync(f, bytes);
    const r = await cli(["inspect", f, "--cpu", "intel-icelake-server", "--json"]);
    const m = mxcsrFinding(r.out);
    assert.ok(m, r.out);
    assert.equal(m.severity, "error");
    assert.match(m.message, /intel-icelake-server's MXCSR_MASK 0xffff \(estimated from CPUID/);
  });

  test("the same MXCSR in a frame whose field says 0xffff, read as AMD Zen 4: accepted", async () => {
    const b = Uint8Array.from(readFileSync(f));
    new DataView(b.buffer).setUint32(456 + 28, 0xffff, true);
    const g = join(d, "field.bin");
    writeFileSync(g, b);
    const r = await cli(["inspect", g, "--cpu", "amd-zen4", "--json"]);
    assert.equal(mxcsrFinding(r.out), undefined, r.out);
    // Without --cpu the field is all there is, and the message says so.
    const n = await cli(["inspect", g, "--json"]);
    assert.match(mxcsrFinding(n.out).message, /the frame's mxcsr_mask field/);
  });
});
