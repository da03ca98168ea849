import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  decodeFxsave,
  decodeXstate,
  openCore,
  profileFromPlacement,
  vendorPlacement,
} from "../../../src/core/elf/index.ts";
import { computeLayout } from "../../../src/core/xsave/layout.ts";
import { needs } from "../../helpers/shared.ts";
import { CORE_DIR, coreSource, regValue, SCENARIOS, type TruthContext, truth } from "./fixtures.ts";

const MASK256 = (1n << 256n) - 1n;

function expectContext(ctx: TruthContext) {
  const zmm = ctx.zmm.map(regValue);
  return {
    zmm,
    k: ctx.k.map((v) => BigInt(v)),
    mxcsr: BigInt(ctx.mxcsr),
    st0: regValue(ctx.x87_st[0]!),
    st1: regValue(ctx.x87_st[1]!),
  };
}

describe("thread FPU state from the fixture cores", needs(CORE_DIR, "fixture cores"), () => {
  test("kernel cores: every thread's zmm0-31, k0-7, mxcsr, st0/st1 equal its live context", () => {
    let threads = 0;
    for (const s of SCENARIOS) {
      const t = truth(s);
      const c = openCore(coreSource(s, "kernel"));
      for (const tt of t.threads) {
        const th = c.threads.find((x) => x.tid === tt.tid)!;
        const st = c.fpu(th)!;
        assert.equal(st.from, "NT_X86_XSTATE");
        assert.deepEqual(st.lost, []);
        assert.equal(st.xstateBv, BigInt(tt.live_xinuse_expected), `${s} ${tt.tid} xstate_bv`);
        assert.equal(st.sw464, 0xe7n, "bytes 464..471 are XCR0");
        const e = expectContext(t.contexts[tt.live_context]!);
        for (let i = 0; i < 32; i++) assert.equal(st.regs[`zmm${i}`], e.zmm[i], `${s} ${tt.tid} zmm${i}`);
        for (let i = 0; i < 16; i++) {
          assert.equal(st.regs[`ymm${i}`], e.zmm[i]! & MASK256, `${s} ymm${i}`);
          assert.equal(st.regs[`xmm${i}`], e.zmm[i]! & ((1n << 128n) - 1n), `${s} xmm${i}`);
        }
        for (let i = 0; i < 8; i++) assert.equal(st.regs[`k${i}`], e.k[i], `${s} ${tt.tid} k${i}`);
        assert.equal(st.regs.mxcsr, e.mxcsr, `${s} mxcsr`);
        assert.equal(st.regs.st0, e.st0, `${s} st0`);
        assert.equal(st.regs.st1, e.st1, `${s} st1`);
        assert.equal(st.regs.fcw, 0x37fn);
        assert.equal(st.regs.mxcsr_mask, 0x2ffffn);
        // NT_PRFPREG agrees with the legacy area of the XSTATE note.
        const fx = decodeFxsave(th.fpregs!);
        for (let i = 0; i < 16; i++) assert.equal(fx.regs[`xmm${i}`], st.regs[`xmm${i}`]);
        assert.equal(fx.regs.mxcsr, st.regs.mxcsr);
        threads++;
      }
    }
    assert.equal(threads, 9);
  });

  test("gcore: the XSTATE note is exactly gdb 13's Intel-offset copy of the AMD buffer", () => {
    for (const s of SCENARIOS) {
      const t = truth(s);
      const c = openCore(coreSource(s, "gcore"));
      assert.equal(c.xsave.gdbQuirk?.confidence, "likely", s);
      assert.deepEqual(c.xsave.gdbQuirk?.lost, ["k0-k7", "zmm0-zmm5 bits 256-511"]);
      for (const tt of t.threads) {
        const th = c.threads.find((x) => x.tid === tt.tid)!;
        const x = th.xstate!;
        assert.equal(x.length, 2688);
        const st = c.fpu(th)!;
        assert.deepEqual(st.lost, ["k0-k7", "zmm0-zmm5 bits 256-511"]);
        // gdb writes 0xe7 even where the real XSTATE_BV is 0x7 (S1, S7).
        assert.equal(st.xstateBv, 0xe7n, `${s} xstate_bv`);
        const e = expectContext(t.contexts[tt.live_context]!);
        // Read at the CPU's (AMD) offsets: xmm, ymm, zmm6-15 upper and zmm16-31 survive.
        for (let i = 0; i < 16; i++) assert.equal(st.regs[`ymm${i}`], e.zmm[i]! & MASK256, `${s} ymm${i}`);
        for (let i = 6; i < 32; i++) assert.equal(st.regs[`zmm${i}`], e.zmm[i], `${s} zmm${i}`);
        // Lost: k0-k7 and bits 256-511 of zmm0-5 are zero.
        for (let i = 0; i < 8; i++) assert.equal(st.regs[`k${i}`], 0n, `${s} k${i}`);
        for (let i = 0; i < 6; i++) assert.equal(st.regs[`zmm${i}`]! >> 256n, 0n, `${s} zmm${i} upper`);
        // AMD 832..1087 (opmask and the start of ZMM_Hi256) is Intel's MPX gap: all zero.
        assert.ok(x.subarray(832, 1088).every((b) => b === 0));
        // Beyond AMD's 2432-byte area the note is zero too.
        assert.ok(x.subarray(2432).every((b) => b === 0));
        if (t.contexts[tt.live_context]!.isa === "zmm") {
          // Where the truth has data that gdb lost, the model really lost something.
          assert.ok(e.k.some((k) => k !== 0n));
          // Read with Intel's offsets (what the note's size claims) k0-k7 are not the truth.
          const intel = computeLayout(
            profileFromPlacement(
              "intel",
              {
                xcr0: 0xe7n,
                components: vendorPlacement("GenuineIntel", 0xe7n)!,
                vendor: "GenuineIntel",
                source: "vendor-table",
              },
              [],
            ),
          );
          const asIntel = decodeXstate(x, intel);
          assert.notDeepEqual(
            [0, 1, 2, 3, 4, 5, 6, 7].map((i) => asIntel.regs[`k${i}`]),
            e.k,
          );
        }
      }
      const notes = c.profile.notes.join("\n");
      assert.match(notes, /gdb ≤ 13 XSAVE quirk/);
      assert.match(notes, /k0-k7/);
    }
  });

  test("decodeXstate honours XSTATE_BV (init components read as zero) unless raw", () => {
    const c = openCore(coreSource("S2", "kernel"));
    const x = c.threads[0]!.xstate!.slice();
    const dv = new DataView(x.buffer);
    dv.setBigUint64(512, 0x3n, true); // only FP|SSE in use
    const init = decodeXstate(x, c.layout);
    const raw = decodeXstate(x, c.layout, { raw: true });
    assert.equal(init.regs.k0, 0n);
    assert.notEqual(raw.regs.k0, 0n);
    assert.equal(init.regs.zmm16, 0n);
    assert.equal(init.regs.xmm0, raw.regs.xmm0);
    assert.throws(() => decodeXstate(x.subarray(0, 1000), c.layout), { name: "TruncatedInputError" });
  });
});
