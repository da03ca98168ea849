/**
 * The ia32 restore path: every condition of __fpu_restore_sig()'s ia32 half and
 * copy_uabi_to_xstate(), on frames built the kernel's way, and how it differs from the 64-bit path
 * for the same image bytes.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BUILTIN_PROFILES } from "../../../src/core/profiles/builtins.ts";
import { buildFpstateBytes } from "../../../src/core/sigframe/build.ts";
import { buildIa32Frame } from "../../../src/core/sigframe/ia32-build.ts";
import { emptyState, setRegister } from "../../../src/core/sigframe/state.ts";
import { predict } from "../../../src/core/sigreturn/predict.ts";
import {
  POLICIES,
  type Policy,
  type PredictInput,
  type Prediction,
} from "../../../src/core/sigreturn/types.ts";
import { computeLayout, type XsaveLayout } from "../../../src/core/xsave/layout.ts";

const layout = (name: string): XsaveLayout =>
  computeLayout(BUILTIN_PROFILES.find((b) => b.name === name)!.build());
const icelake = layout("intel-icelake-server");
const haswell = layout("intel-haswell");

function area(l: XsaveLayout, edit?: (dv: DataView) => void): Uint8Array {
  const st = emptyState();
  setRegister(st, "ymm2", (0xabn << 200n) | 7n);
  setRegister(st, "st0", 0x3fff8000000000000000n);
  setRegister(st, "ftw", 0x80n);
  setRegister(st, "fsw", 0x3800n);
  const b = buildIa32Frame({ layout: l, state: st, fpstateOnly: true }).bytes;
  if (edit) edit(new DataView(b.buffer, b.byteOffset, b.byteLength));
  return b;
}
/** Offsets in the image (buf_fx = area + 112). */
const FX = 112;

function run(
  fp: Uint8Array | null,
  task: XsaveLayout,
  policy: Policy = "classic",
  more: Partial<PredictInput> = {},
) {
  return predict({ fpstate: fp, task, policy, ia32: true, ...more });
}
const result = (p: Prediction, name: string) => p.components.find((c) => c.name === name);

describe("ia32 restore path", () => {
  test("a kernel-style frame on its own CPU: x87 from the FSAVE header, the rest from the image", () => {
    for (const policy of POLICIES) {
      const p = run(area(icelake), icelake, policy);
      assert.equal(p.path, "xrstor", policy);
      assert.equal(p.frame, "ia32");
      assert.equal(p.reason, "ia32-xstate-partial"); // OPMASK, ZMM were init at delivery
      assert.deepEqual(result(p, "x87"), { bit: 0, name: "x87", result: "frame", offset: 0 });
      assert.deepEqual(result(p, "SSE"), { bit: 1, name: "SSE", result: "frame", offset: FX + 160 });
      assert.deepEqual(result(p, "YMM"), { bit: 2, name: "YMM", result: "frame", offset: FX + 576 });
      assert.equal(result(p, "OPMASK")!.result, "init");
      assert.equal(p.mxcsr, "frame");
      assert.deepEqual(p.lost, []);
    }
  });

  test("every component present in XSTATE_BV and sw.xfeatures: ia32-xstate-full", () => {
    const p = run(
      area(icelake, (dv) => dv.setBigUint64(FX + 512, icelake.userFeatures, true)),
      icelake,
    );
    assert.equal(p.reason, "ia32-xstate-full");
    assert.ok(p.components.every((c) => c.result === "frame"));
  });

  test("a component missing from sw.xfeatures is dropped from the kernel buffer: init", () => {
    const p = run(
      area(icelake, (dv) => dv.setBigUint64(FX + 472, icelake.userFeatures & ~4n, true)),
      icelake,
    );
    assert.equal(p.reason, "ia32-xstate-partial");
    assert.equal(result(p, "YMM")!.result, "init");
    assert.deepEqual(p.lost, ["YMM"]);
    assert.match(p.detail, /YMM is not in sw\.xfeatures/);
  });

  test("XSTATE_BV without x87: x87 is init although the FSAVE header carries it", () => {
    const p = run(
      area(icelake, (dv) => dv.setBigUint64(FX + 512, 0x6n, true)),
      icelake,
    );
    assert.equal(p.path, "xrstor");
    assert.equal(result(p, "x87")!.result, "init");
    assert.equal(result(p, "SSE")!.result, "frame");
  });

  test("compacted form: rejected on ia32, read in the compacted form on the 64-bit path (probe 9e)", () => {
    const xcomp = (1n << 63n) | icelake.xcr0;
    const p = run(
      area(icelake, (dv) => dv.setBigUint64(FX + 520, xcomp, true)),
      icelake,
    );
    assert.equal(p.signal, "SIGSEGV");
    assert.equal(p.reason, "ia32-header-xcomp-bv");
    assert.match(p.source, /validate_user_xstate_header/);
    const img = area(icelake, (dv) => dv.setBigUint64(FX + 520, xcomp, true)).subarray(FX);
    const p64 = predict({ fpstate: img, task: icelake, policy: "classic" });
    assert.equal(p64.reason, "xrstor-compacted");
    assert.equal(p64.signal, null);
  });

  test("header bytes 24..63: rejected on ia32, ignored on the 64-bit path (probe 9d)", () => {
    for (const off of [16, 24, 56]) {
      const edit = (dv: DataView) => dv.setUint8(FX + 512 + off, 1);
      const p = run(area(icelake, edit), icelake);
      assert.equal(p.reason, "ia32-header-reserved", `byte ${off}`);
      assert.match(p.detail, new RegExp(`bytes ${off}\\.\\.${off + 7}`));
      const p64 = predict({ fpstate: area(icelake, edit).subarray(FX), task: icelake, policy: "classic" });
      assert.equal(p64.signal === null, off >= 24, `64-bit, byte ${off}`);
    }
  });

  test("XSTATE_BV bits outside the task's user_xfeatures: -EINVAL", () => {
    // Ice Lake-SP has no MPX (bit 3).
    const p = run(
      area(icelake, (dv) => dv.setBigUint64(FX + 512, 0x8n | 0x3n, true)),
      icelake,
    );
    assert.equal(p.reason, "ia32-header-xfeatures");
    assert.match(p.detail, /bit 3 outside/);
    // XTILEDATA is in XCR0 on Sapphire Rapids but not a user feature until the task enables AMX.
    const spr = layout("intel-sapphirerapids");
    const amx = computeLayout(BUILTIN_PROFILES.find((b) => b.name === "intel-sapphirerapids")!.build(), {
      amx: true,
    });
    const tile = (dv: DataView) => dv.setBigUint64(FX + 512, 0x3n | (1n << 18n), true);
    assert.equal(run(area(spr, tile), spr).reason, "ia32-header-xfeatures");
    assert.notEqual(run(area(amx, tile), amx).reason, "ia32-header-xfeatures");
  });

  test("MXCSR reserved bits: SIGSEGV when XSTATE_BV has x87/SSE/YMM, not read otherwise", () => {
    const bad = (dv: DataView) => dv.setUint32(FX + 24, 0x1_0000, true); // bit 16: outside 0xffff
    const p = run(area(icelake, bad), icelake);
    assert.equal(p.reason, "ia32-mxcsr");
    const none = run(
      area(icelake, (dv) => {
        bad(dv);
        dv.setBigUint64(FX + 512, 1n << 9n, true); // PKRU only
      }),
      icelake,
    );
    assert.equal(none.path, "xrstor");
    assert.equal(none.mxcsr, "init");
    assert.match(none.detail, /MXCSR is not copied/);
    // The receiving CPU's mask decides: AMD with MisAlignSse has bit 17.
    assert.equal(
      run(
        area(icelake, (dv) => dv.setUint32(FX + 24, 0x2_0000, true)),
        icelake,
        "classic",
        {
          mxcsrMask: 0x2ffff,
        },
      ).path,
      "xrstor",
    );
  });

  test("FX-only (no magic1): 512-byte copy, x87 from the FSAVE header, MXCSR checked", () => {
    const noMagic = (dv: DataView) => dv.setUint32(FX + 464, 0, true);
    const p = run(area(icelake, noMagic), icelake);
    assert.equal(p.path, "fxrstor-fallback");
    assert.equal(p.reason, "magic1-mismatch");
    assert.deepEqual(result(p, "x87"), { bit: 0, name: "x87", result: "frame", offset: 0 });
    assert.deepEqual(result(p, "SSE"), { bit: 1, name: "SSE", result: "frame", offset: FX + 160 });
    assert.equal(result(p, "YMM")!.result, "init");
    assert.deepEqual(p.lost, ["YMM", "PKRU"]);
    const bad = run(
      area(icelake, (dv) => {
        noMagic(dv);
        dv.setUint32(FX + 24, 0x1_0000, true);
      }),
      icelake,
    );
    assert.equal(bad.reason, "ia32-mxcsr");
    assert.equal(bad.signal, "SIGSEGV");
  });

  test("the check runs on buf_fx: a Haswell frame on Ice Lake-SP is classic-XSAVE, refined-FX-only", () => {
    const b = area(haswell);
    assert.equal(run(b, icelake, "classic").path, "xrstor");
    const r = run(b, icelake, "refined", { readableBytes: FX + icelake.userSize + 4 });
    assert.equal(r.reason, "magic2-mismatch");
    assert.match(r.detail, /offsets from buf_fx = fpstate \+ 112/);
    assert.equal(run(b, icelake, "refined", { readableBytes: b.length }).reason, "magic2-unreadable");
  });

  test("memory limits: FSAVE header, components, the 512-byte image", () => {
    // legacy: an unreadable sw area falls back to FX-only, then the FSAVE header copy faults.
    assert.equal(run(area(icelake), icelake, "legacy", { readableBytes: 100 }).reason, "ia32-fsave-fault");
    assert.equal(
      run(area(icelake), icelake, "classic", { readableBytes: 100 }).reason,
      "sw-bytes-unreadable",
    );
    // legacy FX-only with the image cut at 400 bytes: the 512-byte copy faults.
    assert.equal(
      run(area(icelake), icelake, "legacy", { readableBytes: FX + 400 }).reason,
      "ia32-copy-fault",
    );
    // A Haswell frame (xstate_size 832) on Ice Lake-SP claiming PKRU (at 2688): the copy faults.
    const b = area(haswell, (dv) => dv.setBigUint64(FX + 512, 0x3n | (1n << 9n), true));
    const p = run(b, icelake, "classic", { readableBytes: b.length });
    assert.equal(p.reason, "ia32-copy-fault");
    assert.match(p.detail, /PKRU/);
    assert.deepEqual(p.lost, ["x87", "SSE", "PKRU"]);
  });

  test("no alignment rule: the image is copied, not XRSTORed in place", () => {
    const p = run(area(icelake), icelake, "classic", { address: 0x1003n });
    assert.equal(p.path, "xrstor");
    const p64 = predict({
      fpstate: area(icelake).subarray(FX),
      task: icelake,
      policy: "classic",
      address: 0x1003n,
    });
    assert.equal(p64.reason, "xrstor-gp-alignment");
  });

  test("NULL fpstate", () => {
    const p = run(null, icelake);
    assert.equal(p.reason, "null-fpstate");
    assert.equal(p.frame, "ia32");
  });

  test("a 64-bit image read as ia32 is not the same frame (the x87 header is garbage, magic1 misses)", () => {
    const b64 = buildFpstateBytes(icelake, emptyState(), "kernel");
    const p = run(b64, icelake);
    assert.equal(p.path, "fxrstor-fallback");
    assert.equal(p.reason, "magic1-mismatch");
  });
});

test("hostile input on the ia32 path: never throws, a documented reason, SIGSEGV iff fault", async () => {
  const fc = (await import("fast-check")).default;
  const { REASONS } = await import("../../../src/core/sigreturn/reasons.ts");
  const base = area(icelake);
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 0, maxLength: 3200 }),
      fc.array(fc.tuple(fc.nat(3000), fc.integer({ min: 0, max: 255 })), { maxLength: 12 }),
      fc.boolean(),
      fc.nat(4000),
      fc.constantFrom(...POLICIES),
      (junk, pokes, useBase, readable, policy) => {
        const bytes = useBase ? base.slice() : junk;
        for (const [o, v] of pokes) if (o < bytes.length) bytes[o] = v;
        const p = run(bytes, icelake, policy, { readableBytes: readable });
        assert.ok(p.reason in REASONS, p.reason);
        // SIGSEGV from a failed restore, or after it when the restored PKRU locks key 0
        assert.equal(p.signal === "SIGSEGV", p.path === "fault" || p.reason === "pkru-locks-key0");
        assert.equal(p.components.length, 7);
        assert.ok(p.source.startsWith("arch/x86/kernel/fpu/"), p.source);
      },
    ),
    { numRuns: 400 },
  );
});
