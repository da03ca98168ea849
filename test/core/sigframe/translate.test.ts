/**
 * Translating XSAVE state between layouts: A→B→A is the identity on register values for random
 * states over the components A and B share; A→A is the identity on bytes; a live AMD Zen 5 kernel
 * frame from the fixtures lands at Intel's offsets and Ice Lake restores it, where the untranslated
 * frame is read at the wrong offsets; dropped components, MXCSR, sizes and bad input.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  InvalidDataError,
  isSigframeError,
  TruncatedInputError,
  UsageError,
} from "../../../src/core/errors.ts";
import { hexToBytes, leToBigint } from "../../../src/core/hex.ts";
import { mxcsrMaskOf } from "../../../src/core/mxcsr.ts";
import { builtinProfile } from "../../../src/core/profiles/detect.ts";
import { buildFpstate } from "../../../src/core/sigframe/build.ts";
import { componentFields, LEGACY_FIELDS } from "../../../src/core/sigframe/fields.ts";
import { decodeFpstate, encodeFpstate, type Fpstate } from "../../../src/core/sigframe/fpstate.ts";
import { decodeSigframeImage } from "../../../src/core/sigframe/frame.ts";
import type { RegisterState } from "../../../src/core/sigframe/state.ts";
import {
  predictTranslation,
  type TranslateStyle,
  translateFpstate,
  translateSigframeImage,
  untranslatedReads,
} from "../../../src/core/sigframe/translate/index.ts";
import { predict } from "../../../src/core/sigreturn/predict.ts";
import { POLICIES } from "../../../src/core/sigreturn/types.ts";
import { FP_XSTATE_MAGIC2 } from "../../../src/core/xsave/components.ts";
import { computeLayout, type XsaveLayout } from "../../../src/core/xsave/layout.ts";
import { readProfile } from "../../../src/node/profile-source.ts";
import { FIXTURES, needs } from "../../helpers/shared.ts";

const layoutOf = (name: string, amx = false) => computeLayout(builtinProfile(name), amx ? { amx: true } : {});
const maskOf = (name: string) => mxcsrMaskOf(builtinProfile(name));

/** User components (bit ≥ 2) a task has. */
const taskBits = (l: XsaveLayout) => l.components.filter((c) => c.enabled && c.bit >= 2).map((c) => c.bit);

function randomValue(bytes: number) {
  return fc.bigInt({ min: 0n, max: (1n << BigInt(bytes * 8)) - 1n });
}

/** Random registers for the legacy region and for each of `bits` (each in use or left init). */
function randomState(a: XsaveLayout, common: number[]) {
  const legacy = fc.record(
    Object.fromEntries(
      LEGACY_FIELDS.filter(([n]) => n !== "mxcsr" && n !== "mxcsr_mask").map(([n, , s]) => [
        n,
        randomValue(s),
      ]),
    ),
  );
  const comp = (bit: number) => {
    const c = a.components.find((x) => x.bit === bit)!;
    const regs = fc.record(
      Object.fromEntries(componentFields(bit, c.size).map(([n, , s]) => [n, randomValue(s)])),
    );
    return fc.option(regs, { nil: undefined });
  };
  return fc
    .tuple(legacy, fc.integer({ min: 0, max: 0xffff }), fc.tuple(...common.map(comp)))
    .map(([l, mxcsr, comps]) => {
      const state: RegisterState = {
        frame: {},
        legacy: { ...l, mxcsr: BigInt(mxcsr) },
        components: new Map(),
        given: [],
      };
      common.forEach((b, i) => {
        if (comps[i]) state.components.set(b, comps[i]!);
      });
      // Components only A has are left init explicitly (the builder would give PKRU Linux's default).
      for (const b of taskBits(a)) if (!common.includes(b)) state.components.set(b, zeros(a, b));
      return state;
    });
}

function zeros(l: XsaveLayout, bit: number): Record<string, bigint> {
  const c = l.components.find((x) => x.bit === bit)!;
  return Object.fromEntries(componentFields(bit, c.size).map(([n]) => [n, 0n]));
}

function regsOf(fp: Fpstate, bit: number): Record<string, bigint> | undefined {
  if (!fp.header || ((fp.header.xstateBv >> BigInt(bit)) & 1n) === 0n) return undefined;
  return fp.components.find((c) => c.bit === bit)?.registers;
}

const inUse = (r: Record<string, bigint> | undefined) =>
  r !== undefined && Object.values(r).some((v) => v !== 0n);

const PAIRS: [string, string, { amxFrom?: boolean; amxTo?: boolean }][] = [
  ["amd-zen5", "intel-icelake-server", {}],
  ["intel-icelake-server", "amd-zen5", {}],
  ["intel-haswell", "intel-sapphirerapids", {}],
  ["amd-zen3", "intel-raptorlake", {}],
  ["intel-skylake-server", "amd-zen4", {}],
  ["amd-zen4", "intel-sapphirerapids", { amxTo: true }],
  ["intel-sapphirerapids", "intel-sapphirerapids", { amxFrom: true, amxTo: true }],
  ["amd-zen2", "hygon", {}],
];

describe("translate: A → B → A is the identity on register values", () => {
  for (const [an, bn, o] of PAIRS) {
    test(`${an}${o.amxFrom ? " (AMX)" : ""} ↔ ${bn}${o.amxTo ? " (AMX)" : ""}`, () => {
      const A = layoutOf(an, o.amxFrom);
      const B = layoutOf(bn, o.amxTo);
      const common = taskBits(A).filter((b) => taskBits(B).includes(b));
      fc.assert(
        fc.property(
          randomState(A, common),
          fc.constantFrom<TranslateStyle>("kernel", "criu"),
          fc.constantFrom<TranslateStyle>("kernel", "criu"),
          (state, s1, s2) => {
            const src = buildFpstate(A, state, s1);
            const there = translateFpstate(src, { from: A, to: B, style: s1, mxcsrMask: maskOf(bn) });
            assert.deepEqual(there.lost, []);
            // B's bytes, decoded independently at B's layout, hold every register at B's offsets.
            const atB = decodeFpstate(there.bytes, { layout: B });
            assert.deepEqual(atB.legacy, src.legacy);
            for (const b of common) {
              const want = regsOf(src, b);
              if (inUse(want)) assert.deepEqual(regsOf(atB, b), want, `bit ${b} at B`);
              else assert.ok(!inUse(regsOf(atB, b)), `bit ${b} stays init at B`);
              const cb = B.components.find((c) => c.bit === b)!;
              if (inUse(want)) assert.equal(atB.components.find((c) => c.bit === b)!.offset, cb.offset);
            }
            assert.equal(atB.magic2, FP_XSTATE_MAGIC2);
            // The receiving kernel loads it all (kernel style under every policy; CRIU's trimmed
            // size is restored by classic and legacy kernels only).
            const preds = predictTranslation(there, {
              task: B,
              policies: POLICIES,
              mxcsrMask: maskOf(bn).value,
            });
            for (const p of preds) {
              if (s1 === "kernel" || p.prediction.policy !== "refined")
                assert.ok(p.restored, `${p.prediction.policy}: ${p.prediction.detail} ${p.missing}`);
            }
            const back = translateFpstate(there.fpstate, {
              from: B,
              to: A,
              style: s2,
              mxcsrMask: maskOf(an),
            });
            const atA = decodeFpstate(back.bytes, { layout: A });
            assert.deepEqual(atA.legacy, src.legacy);
            for (const b of common) {
              const want = regsOf(src, b);
              if (inUse(want)) assert.deepEqual(regsOf(atA, b), want, `bit ${b} back at A`);
              else assert.ok(!inUse(regsOf(atA, b)), `bit ${b} back init`);
            }
          },
        ),
        { numRuns: 40 },
      );
    });
  }
});

describe("translate: A → A in the kernel style gives the kernel's own bytes back", () => {
  for (const name of [
    "amd-zen5",
    "intel-sapphirerapids",
    "intel-skylake-server",
    "amd-zen3",
    "intel-haswell",
  ]) {
    test(name, () => {
      const L = layoutOf(name);
      fc.assert(
        fc.property(randomState(L, taskBits(L)), (state) => {
          const src = buildFpstate(L, state, "kernel");
          const t = translateFpstate(src, { from: L, to: L, mxcsrMask: maskOf(name) });
          assert.deepEqual(t.bytes, encodeFpstate(src));
          assert.ok(
            t.components.every((c) => c.action === "kept" || c.action === "moved" || c.action === "init"),
          );
        }),
        { numRuns: 25 },
      );
    });
  }
});

describe("translate: components only one side has", () => {
  test("Zen 5 → Haswell drops the AVX-512 state: lost when it held values, not when init", () => {
    const A = layoutOf("amd-zen5");
    const H = layoutOf("intel-haswell");
    fc.assert(
      fc.property(randomState(A, taskBits(A)), (state) => {
        const src = buildFpstate(A, state, "kernel");
        const t = translateFpstate(src, { from: A, to: H, mxcsrMask: maskOf("intel-haswell") });
        for (const b of [5, 6, 7, 9]) {
          const m = t.components.find((c) => c.bit === b)!;
          assert.equal(m.action, "dropped");
          assert.equal(m.to, undefined);
          assert.equal(m.lost, inUse(regsOf(src, b)), `${m.name}`);
        }
        assert.deepEqual(
          t.lost,
          t.components.filter((c) => c.lost).map((c) => c.name),
        );
        assert.equal(t.fpstate.sw.xstateSize, 832);
        assert.equal(t.fpstate.sw.xfeatures, 0x7n);
        assert.equal(t.fpstate.header!.xstateBv & ~0x7n, 0n);
      }),
      { numRuns: 30 },
    );
  });

  test("Haswell → Ice Lake-SP: components Haswell lacks are left init (XSTATE_BV and xfeatures clear)", () => {
    const A = layoutOf("intel-haswell");
    const B = layoutOf("intel-icelake-server");
    const st: RegisterState = {
      frame: {},
      legacy: {},
      components: new Map([[2, { ymmh3: 0xabcdn }]]),
      given: [],
    };
    const t = translateFpstate(buildFpstate(A, st, "kernel"), { from: A, to: B });
    assert.deepEqual(
      t.components.filter((c) => c.action === "init").map((c) => [c.name, c.source]),
      [
        ["OPMASK", "absent"],
        ["ZMM_Hi256", "absent"],
        ["Hi16_ZMM", "absent"],
        ["PKRU", "absent"],
      ],
    );
    assert.equal(t.fpstate.sw.xfeatures, 0x7n);
    assert.equal(t.fpstate.header!.xstateBv, 0x7n);
    assert.equal(t.fpstate.sw.xstateSize, B.userSize);
    const p = predict({ fpstate: t.bytes, task: B, policy: "classic" });
    assert.equal(p.components.find((c) => c.name === "YMM")!.result, "frame");
    assert.equal(p.components.find((c) => c.name === "PKRU")!.result, "init");
  });

  test("AMX tile data moves only to a task that has enabled it", () => {
    const A = layoutOf("intel-sapphirerapids", true);
    const st: RegisterState = {
      frame: {},
      legacy: {},
      components: new Map([[18, { tmm2: 0x1234n << 8000n }]]),
      given: [],
    };
    const src = buildFpstate(A, st, "kernel");
    const noAmx = translateFpstate(src, { from: A, to: layoutOf("intel-sapphirerapids") });
    const tiles = noAmx.components.find((c) => c.name === "XTILEDATA")!;
    assert.equal(tiles.action, "dropped");
    assert.equal(tiles.lost, true);
    assert.match(tiles.note!, /--amx/);
    assert.equal(noAmx.fpstate.sw.xstateSize, 2816);
    const amx = translateFpstate(src, { from: A, to: layoutOf("intel-sapphirerapids", true) });
    assert.equal(amx.components.find((c) => c.name === "XTILEDATA")!.action, "moved");
    assert.equal(amx.fpstate.sw.xstateSize, 11008);
    assert.equal(regsOf(amx.fpstate, 18)!.tmm2, 0x1234n << 8000n);
  });

  test("CRIU style trims xstate_size to the highest component in use and sets xfeatures = xstate_bv", () => {
    const A = layoutOf("amd-zen5");
    const B = layoutOf("intel-icelake-server");
    const st: RegisterState = { frame: {}, legacy: {}, components: new Map([[5, { k1: 0xffn }]]), given: [] };
    const src = buildFpstate(A, st, "kernel");
    const t = translateFpstate(src, { from: A, to: B, style: "criu" });
    // OPMASK (1088..1151) and PKRU (Linux's default, set by the builder: 2688..2695) are in use.
    assert.equal(t.fpstate.sw.xstateSize, 2696);
    assert.equal(t.fpstate.sw.xfeatures, t.fpstate.header!.xstateBv);
    assert.equal(t.fpstate.header!.xstateBv, 0x223n);
    const st2: RegisterState = {
      frame: {},
      legacy: {},
      components: new Map<number, Record<string, bigint>>([
        [5, { k1: 0xffn }],
        [9, { pkru: 0n }],
      ]),
      given: [],
    };
    const t2 = translateFpstate(buildFpstate(A, st2, "kernel"), { from: A, to: B, style: "criu" });
    assert.equal(t2.fpstate.sw.xstateSize, 1152);
    assert.equal(t2.bytes.length, 1156);
    assert.equal(t2.fpstate.magic2, FP_XSTATE_MAGIC2);
  });
});

describe("translate: MXCSR against the receiving CPU's MXCSR_MASK", () => {
  const A = layoutOf("amd-zen5");
  const B = layoutOf("intel-icelake-server");
  const src = buildFpstate(
    A,
    { frame: {}, legacy: { mxcsr: 0x1fc0n }, components: new Map(), given: [] },
    "kernel",
  );
  test("a bit outside the mask is reported and SIGSEGV predicted; --fix-mxcsr clears it", () => {
    const t = translateFpstate(src, { from: A, to: B, mxcsrMask: 0xffbf });
    assert.equal(t.mxcsr.unsupported, 0x40);
    assert.equal(t.mxcsr.written, 0x1fc0);
    assert.equal(t.mxcsr.estimated, false);
    const p = predictTranslation(t, { task: B, policies: ["classic"], mxcsrMask: 0xffbf })[0]!;
    assert.equal(p.prediction.signal, "SIGSEGV");
    assert.equal(p.restored, false);
    const f = translateFpstate(src, { from: A, to: B, mxcsrMask: 0xffbf, fixMxcsr: true });
    assert.equal(f.mxcsr.fixed, true);
    assert.equal(decodeFpstate(f.bytes, { layout: B }).legacy.mxcsr, 0x1f80n);
    assert.ok(predictTranslation(f, { task: B, policies: ["classic"], mxcsrMask: 0xffbf })[0]!.restored);
  });
  test("within the mask nothing changes, even with fixMxcsr", () => {
    const t = translateFpstate(src, { from: A, to: B, mxcsrMask: 0xffff, fixMxcsr: true });
    assert.equal(t.mxcsr.unsupported, 0);
    assert.equal(t.mxcsr.fixed, false);
    assert.equal(t.mxcsr.written, 0x1fc0);
  });
});

describe("translate: bad input", () => {
  const A = layoutOf("amd-zen5");
  const B = layoutOf("intel-icelake-server");
  const good = buildFpstate(
    A,
    { frame: {}, legacy: {}, components: new Map([[7, { zmm20: 5n }]]), given: [] },
    "kernel",
  );
  const bytes = encodeFpstate(good);
  const mutate = (f: (dv: DataView) => void) => {
    const b = bytes.slice();
    f(new DataView(b.buffer));
    return decodeFpstate(b, { layout: A, strict: false });
  };
  const throwsAt = (fn: () => unknown, cls: new (...args: never[]) => Error, path: RegExp) =>
    assert.throws(fn, (e: unknown) => {
      assert.ok(isSigframeError(e) && e instanceof cls, String(e));
      assert.match(e.path ?? "", path);
      return true;
    });

  test("a legacy FXSAVE image (no magic1)", () => {
    throwsAt(
      () =>
        translateFpstate(
          mutate((dv) => dv.setUint32(464, 0, true)),
          { from: A, to: B },
        ),
      InvalidDataError,
      /magic1/,
    );
  });
  test("xstate_bv outside the source CPU's XCR0: wrong --from", () => {
    const fp = mutate((dv) => dv.setBigUint64(512, 0x3n | (1n << 3n), true));
    throwsAt(() => translateFpstate(fp, { from: A, to: B }), InvalidDataError, /xstate_bv/);
  });
  test("xstate_size larger than any frame of the source CPU: wrong --from", () => {
    const intel = buildFpstate(B, { frame: {}, legacy: {}, components: new Map(), given: [] }, "kernel");
    const fp = decodeFpstate(encodeFpstate(intel), { layout: A });
    throwsAt(() => translateFpstate(fp, { from: A, to: B }), InvalidDataError, /xstate_size/);
  });
  test("a component marked present whose bytes the input lacks", () => {
    const fp = decodeFpstate(bytes.subarray(0, 2000), { layout: A, strict: false });
    assert.throws(
      () => translateFpstate(fp, { from: A, to: B }),
      (e: unknown) => e instanceof TruncatedInputError && e.path === "fpstate/Hi16_ZMM" && e.offset === 2432,
    );
  });
  test("an area too small for B (keep-size that does not fit)", () => {
    throwsAt(() => translateFpstate(good, { from: A, to: B, areaSize: good.size }), UsageError, /fpstate/);
  });
  test("a destination without XSAVE", () => {
    const noXsave = { ...B, xsave: false };
    throwsAt(() => translateFpstate(good, { from: A, to: noXsave }), UsageError, /^$/);
  });
});

// biome-ignore lint/suspicious/noExplicitAny: truth files are plain JSON
type Truth = any;
const fixtures = needs(FIXTURES, "signal-frame fixtures");

describe("translate: the live Zen 5 kernel frame of S2 to Ice Lake-SP", fixtures, () => {
  const truth = (s: string): Truth => JSON.parse(readFileSync(join(FIXTURES, "truth", `${s}.json`), "utf8"));
  const frameOf = (t: Truth) => t.threads[0].frames[0];
  const hostProfile = () => readProfile(join(FIXTURES, "criu", "S2", "cpuinfo.img"));
  const ICX = layoutOf("intel-icelake-server");
  const icxMask = maskOf("intel-icelake-server");

  for (const [what, from] of [
    ["the host's own profile (cpuinfo.img)", () => computeLayout(hostProfile())],
    ["the built-in amd-zen5", () => layoutOf("amd-zen5")],
  ] as const) {
    test(`read at ${what}: every zmm/k/x87 pattern lands at Intel's offsets and Ice Lake restores it`, () => {
      const tr = truth("S2");
      const f = frameOf(tr);
      const ctx = tr.contexts[f.saved_context];
      const A = from();
      const img = decodeSigframeImage(hexToBytes(f.frame_bytes_hex), { layout: A });
      assert.equal(img.fpstateOffset, 456);
      assert.equal(img.frame.mcontext.fpstate, BigInt(f.fpstate));
      const r = translateSigframeImage(img, { from: A, to: ICX, mxcsrMask: icxMask });
      const fp = r.bytes.subarray(r.relocation.fpstateOffset);
      // Raw bytes at Intel's standard offsets, without the codec: k at 1088, ZMM_Hi256 at 1152,
      // Hi16_ZMM at 1664; xmm at 160 and the YMM upper halves at 576 are the same on both.
      const le = (off: number, n: number) => leToBigint(fp.subarray(off, off + n));
      for (let i = 0; i < 8; i++) assert.equal(le(1088 + 8 * i, 8), BigInt(ctx.k[i]), `k${i}`);
      for (let i = 0; i < 32; i++) {
        const want = leToBigint(hexToBytes(ctx.zmm[i]));
        const got =
          i < 16
            ? le(160 + 16 * i, 16) | (le(576 + 16 * i, 16) << 128n) | (le(1152 + 32 * i, 32) << 256n)
            : le(1664 + 64 * (i - 16), 64);
        assert.equal(got, want, `zmm${i}`);
      }
      for (let i = 0; i < 2; i++)
        assert.equal(le(32 + 16 * i, 10), leToBigint(hexToBytes(ctx.x87_st[i])), `st${i}`);
      assert.equal(le(24, 4), BigInt(ctx.mxcsr));
      assert.equal(le(2696, 4), BigInt(FP_XSTATE_MAGIC2));
      assert.equal(le(464 + 16, 4), 2696n, "xstate_size = Ice Lake's user_size");
      // The frame follows the new size: fpstate pointer, length, 64-byte alignment, same top.
      assert.equal(r.bytes.length, 456 + 2700);
      assert.equal(r.relocation.fpstate.to % 64n, 0n);
      assert.ok(r.relocation.end.to <= BigInt(f.frame_end));
      assert.ok(r.relocation.end.to > BigInt(f.frame_end) - 64n);
      assert.equal(r.relocation.base.to, r.relocation.fpstate.to - 456n);
      assert.equal(
        decodeSigframeImage(r.bytes, { base: r.relocation.base.to }).frame.mcontext.fpstate,
        r.relocation.fpstate.to,
      );
      // General registers and the rest of the frame are untouched.
      assert.deepEqual({ ...r.image.frame.mcontext, fpstate: 0n }, { ...img.frame.mcontext, fpstate: 0n });
      // Ice Lake restores everything from the frame under every policy.
      for (const p of predictTranslation(r.fpstate, {
        task: ICX,
        policies: POLICIES,
        address: r.relocation.fpstate.to,
        mxcsrMask: icxMask.value,
      })) {
        assert.equal(p.prediction.path, "xrstor", p.prediction.detail);
        assert.ok(p.restored, `${p.prediction.policy}: ${p.missing}`);
        const at = Object.fromEntries(p.prediction.components.map((c) => [c.name, c.offset]));
        assert.deepEqual([at.OPMASK, at.ZMM_Hi256, at.Hi16_ZMM], [1088, 1152, 1664]);
      }
    });
  }

  test("untranslated, Ice Lake reads the Zen 5 bytes at Intel's offsets: misplaced, and past the frame", () => {
    const tr = truth("S2");
    const f = frameOf(tr);
    const ctx = tr.contexts[f.saved_context];
    const A = computeLayout(hostProfile());
    const bytes = hexToBytes(f.frame_bytes_hex);
    const img = decodeSigframeImage(bytes, { layout: A });
    const area = bytes.subarray(456);
    // With the bytes above the frame mapped (as on a real stack), classic accepts the smaller frame
    // (xstate_size 2432 ≤ 2696) and XRSTOR loads OPMASK from 1088: bytes that hold Zen 5's
    // ZMM_Hi256 data, not the k registers.
    const mapped = predict({
      fpstate: area,
      task: ICX,
      policy: "classic",
      readableBytes: 4096,
      mxcsrMask: icxMask.value,
    });
    assert.equal(mapped.path, "xrstor");
    const opmask = mapped.components.find((c) => c.name === "OPMASK")!;
    assert.equal(opmask.result, "frame");
    assert.equal(opmask.offset, 1088);
    assert.notEqual(leToBigint(area.subarray(1088, 1096)), BigInt(ctx.k[0]));
    assert.equal(leToBigint(area.subarray(832, 840)), BigInt(ctx.k[0]), "k0 sits at AMD's 832");
    assert.ok(mapped.notes.some((n) => /Hi16_ZMM at 1664\.\.2687, past sw.xstate_size 2432/.test(n)));
    // Hi16_ZMM at 1664..2687 runs past the 2436-byte frame: with only the frame mapped, SIGSEGV.
    const only = predict({
      fpstate: area,
      task: ICX,
      policy: "classic",
      readableBytes: area.length,
      mxcsrMask: icxMask.value,
    });
    assert.equal(only.path, "fault");
    assert.match(only.detail, /Hi16_ZMM/);
    const reads = untranslatedReads(img.fpstate!, A, ICX);
    assert.deepEqual(
      reads.map((u) => [u.name, u.to.offset, u.overlaps]),
      [
        ["OPMASK", 1088, ["ZMM_Hi256"]],
        ["ZMM_Hi256", 1152, ["ZMM_Hi256", "Hi16_ZMM"]],
        ["Hi16_ZMM", 1664, ["Hi16_ZMM", "magic2", "past the frame"]],
      ],
    );
  });

  test("back to the Zen 5 host: the FPU area is the original, byte for byte", () => {
    const tr = truth("S2");
    const f = frameOf(tr);
    const A = computeLayout(hostProfile());
    const bytes = hexToBytes(f.frame_bytes_hex);
    const there = translateSigframeImage(decodeSigframeImage(bytes, { layout: A }), {
      from: A,
      to: ICX,
      mxcsrMask: icxMask,
    });
    const img2 = decodeSigframeImage(there.bytes, { layout: ICX, base: there.relocation.base.to });
    const back = translateSigframeImage(img2, { from: ICX, to: A, mxcsrMask: mxcsrMaskOf(hostProfile()) });
    assert.deepEqual(back.bytes.subarray(456), bytes.subarray(456));
    assert.deepEqual(back.bytes.subarray(0, 232), bytes.subarray(0, 232));
    assert.deepEqual(back.bytes.subarray(240, 456), bytes.subarray(240, 456));
  });

  test("Intel → AMD with keepSize writes in place; AMD → Intel with keepSize is refused", () => {
    const tr = truth("S2");
    const f = frameOf(tr);
    const A = computeLayout(hostProfile());
    const img = decodeSigframeImage(hexToBytes(f.frame_bytes_hex), { layout: A });
    assert.throws(
      () => translateSigframeImage(img, { from: A, to: ICX, keepSize: true }),
      (e: unknown) => e instanceof UsageError && /needs 2700 bytes/.test(e.message),
    );
    const there = translateSigframeImage(img, { from: A, to: ICX });
    const img2 = decodeSigframeImage(there.bytes, { layout: ICX, base: there.relocation.base.to });
    // Shrinking without keepSize: same start and fpstate pointer, the frame just ends earlier.
    const shorter = translateSigframeImage(img2, { from: ICX, to: A });
    assert.equal(shorter.relocation.delta, 0n);
    assert.equal(shorter.relocation.inPlace, true);
    assert.equal(shorter.bytes.length, 456 + 2436);
    assert.equal(shorter.relocation.end.to, there.relocation.end.to - 264n);
    const back = translateSigframeImage(img2, { from: ICX, to: A, keepSize: true });
    assert.equal(back.bytes.length, there.bytes.length);
    assert.equal(back.relocation.delta, 0n);
    assert.equal(back.relocation.inPlace, true);
    assert.equal(back.image.frame.mcontext.fpstate, there.relocation.fpstate.to);
    assert.equal(back.fpstate.fpstate.sw.xstateSize, 2432);
    // Past magic2 the area is zero: no Intel-offset state is left behind.
    assert.ok(back.bytes.subarray(456 + 2436).every((b) => b === 0));
  });

  test("the ymm-only frame of S7 to Haswell drops the AVX-512 components, all init: nothing lost", () => {
    const tr = truth("S7");
    const f = frameOf(tr);
    const A = computeLayout(readProfile(join(FIXTURES, "criu", "S7", "cpuinfo.img")));
    const img = decodeSigframeImage(hexToBytes(f.frame_bytes_hex), { layout: A });
    const r = translateSigframeImage(img, { from: A, to: layoutOf("intel-haswell") });
    assert.deepEqual(r.fpstate.dropped, ["OPMASK", "ZMM_Hi256", "Hi16_ZMM"]);
    assert.deepEqual(r.fpstate.lost, []);
    assert.ok(r.fpstate.components.filter((c) => c.action === "dropped").every((c) => c.source === "init"));
    const ctx = tr.contexts[f.saved_context];
    const at = decodeFpstate(r.fpstate.bytes, { layout: layoutOf("intel-haswell") });
    for (let i = 0; i < 16; i++) {
      const want = leToBigint(hexToBytes(ctx.zmm[i])) & ((1n << 256n) - 1n);
      assert.equal(at.legacy[`xmm${i}` as "xmm0"] | (regsOf(at, 2)![`ymmh${i}`]! << 128n), want, `ymm${i}`);
    }
  });

  test("a NULL fpstate pointer carries nothing to translate", () => {
    const tr = truth("S2");
    const bytes = hexToBytes(frameOf(tr).frame_bytes_hex);
    new DataView(bytes.buffer).setBigUint64(8 + 40 + 184, 0n, true);
    const img = decodeSigframeImage(bytes, { layout: ICX });
    assert.throws(
      () => translateSigframeImage(img, { from: ICX, to: ICX }),
      (e: unknown) => e instanceof InvalidDataError && e.path === "frame/uc/uc_mcontext/fpstate",
    );
  });
});
