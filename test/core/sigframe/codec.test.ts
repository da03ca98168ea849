/**
 * The codec's identities: bytes → decode → encode gives the bytes back, for random bytes on every
 * built-in profile and corpus samples; state → build → encode → decode gives the state back.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";
import fc from "fast-check";
import { isSigframeError, TruncatedInputError } from "../../../src/core/errors.ts";
import { BUILTIN_PROFILES } from "../../../src/core/profiles/builtins.ts";
import { profileFromCpuidR } from "../../../src/core/profiles/cpuid-r.ts";
import { buildFpstate } from "../../../src/core/sigframe/build.ts";
import { componentFields, LEGACY_FIELDS } from "../../../src/core/sigframe/fields.ts";
import { decodeFpstate, encodeFpstate } from "../../../src/core/sigframe/fpstate.ts";
import { decodeSigframeImage, encodeSigframeImage } from "../../../src/core/sigframe/frame.ts";
import { decodeIa32Fpstate, encodeIa32Fpstate } from "../../../src/core/sigframe/ia32.ts";
import { emptyState, registerWidth, setRegister } from "../../../src/core/sigframe/state.ts";
import { FP_XSTATE_MAGIC1 } from "../../../src/core/xsave/components.ts";
import { computeLayout, type XsaveLayout } from "../../../src/core/xsave/layout.ts";
import { readProfile } from "../../../src/node/profile-source.ts";
import { CORPUS, needs } from "../../helpers/shared.ts";

const builtins: [string, XsaveLayout][] = BUILTIN_PROFILES.map((b) => [b.name, computeLayout(b.build())]);
const corpusFiles = [
  "local-this-machine.json",
  "intel-core-i7-4770-cpu-3-40ghz.json",
  "intel-xeon-platinum-8570.json",
];
const haveCorpus = needs(CORPUS, "the CPUID corpus");
const corpus: [string, XsaveLayout][] = haveCorpus.skip
  ? []
  : corpusFiles.flatMap((f) => {
      const p = readProfile(join(CORPUS, f));
      return [
        [f, computeLayout(p)],
        [`${f} --amx`, computeLayout(p, { amx: true })],
      ] as [string, XsaveLayout][];
    });
const layouts = [...builtins, ...corpus];

/** Random bytes that look like a frame often enough to reach every branch. */
function frameish(l: XsaveLayout) {
  return fc
    .tuple(
      fc.uint8Array({ minLength: 512, maxLength: l.userSize + 200 }),
      fc.boolean(),
      fc.constantFrom(0n, 0x8000000000000000n | l.xcr0, 1n),
      fc.nat(l.userSize + 300),
    )
    .map(([b, magic, xcomp, xsize]) => {
      const dv = new DataView(b.buffer);
      if (magic && b.length >= 576) {
        dv.setUint32(464, FP_XSTATE_MAGIC1, true);
        dv.setUint32(480, xsize, true);
        dv.setBigUint64(520, xcomp, true);
      }
      return b;
    });
}

describe("fpstate: encode ∘ decode = identity on bytes", () => {
  test("there are built-in profiles to test", () => assert.ok(builtins.length >= 10));
  for (const [name, l] of layouts) {
    test(name, () => {
      fc.assert(
        fc.property(frameish(l), (b) => {
          const fp = decodeFpstate(b, { layout: l, strict: false });
          assert.deepEqual(encodeFpstate(fp), b);
        }),
        { numRuns: 60 },
      );
    });
  }
});

/** A random register state over the names STATE.json accepts for this layout. */
function stateArb(l: XsaveLayout) {
  const names = ["rip", "rsp", "mxcsr", "fcw", "st0", "mm3", "xmm5", "ymm3", "ymm15"];
  if (l.userFeatures & (1n << 5n)) names.push("k1", "k7", "zmm2", "zmm17", "zmm31", "xmm20");
  if (l.userFeatures & (1n << 9n)) names.push("pkru");
  if (l.userFeatures & (1n << 17n)) names.push("palette", "rows3");
  if (l.userFeatures & (1n << 18n)) names.push("tmm2");
  if (l.userFeatures & (1n << 3n)) names.push("bnd1", "bndcfgu");
  return fc.array(
    fc.constantFrom(...names).chain((n) => {
      const w = registerWidth(n)!;
      return fc.tuple(
        fc.constant(n),
        n === "mxcsr"
          ? fc.constant(0x1f80n)
          : fc.bigInt({ min: 0n, max: (1n << BigInt(Math.min(w, 512))) - 1n }),
      );
    }),
    { maxLength: 8 },
  );
}

describe("fpstate: decode ∘ encode = identity on built frames", () => {
  for (const [name, l] of layouts) {
    for (const style of ["kernel", "criu"] as const) {
      test(`${name} (${style})`, () => {
        fc.assert(
          fc.property(stateArb(l), (regs) => {
            const st = emptyState();
            for (const [n, v] of regs) setRegister(st, n, v);
            const fp = buildFpstate(l, st, style);
            const bytes = encodeFpstate(fp);
            assert.deepEqual(decodeFpstate(bytes, { layout: l }), fp);
            // Every register the state set reads back from the decoded frame.
            const dec = decodeFpstate(bytes, { layout: l });
            for (const [bit, rec] of st.components) {
              const c = dec.components.find((x) => x.bit === bit);
              const carried = style === "kernel" ? l.userFeatures : fp.header!.xstateBv;
              if (!c || !((carried >> BigInt(bit)) & 1n)) continue;
              for (const [k, v] of Object.entries(rec)) assert.equal(c.registers[k], v, `${c.name}.${k}`);
            }
          }),
          { numRuns: 40 },
        );
      });
    }
  }
});

describe("fpstate: decode ∘ encode = identity on random typed states", () => {
  for (const [name, l] of layouts) {
    test(name, () => {
      const template = buildFpstate(l, emptyState(), "kernel");
      const words = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
      fc.assert(
        fc.property(
          fc.infiniteStream(fc.bigInt({ min: 0n, max: (1n << 8192n) - 1n })),
          words,
          words,
          (vals, bv, xf) => {
            const it = vals[Symbol.iterator]();
            const next = (bytes: number) => (it.next().value as bigint) & ((1n << BigInt(bytes * 8)) - 1n);
            const fp = structuredClone(template);
            const legacy = fp.legacy as Record<string, bigint>;
            for (const [k, , size] of LEGACY_FIELDS) legacy[k] = next(size);
            fp.sw.xfeatures = xf;
            fp.header!.xstateBv = bv & (l.xcr0 | 3n);
            for (const c of fp.components) {
              for (const r of Object.keys(c.registers)) c.registers[r] = next(widthOf(c.bit, r, c.size));
            }
            assert.deepEqual(decodeFpstate(encodeFpstate(fp), { layout: l }), fp);
          },
        ),
        { numRuns: 25 },
      );
    });
  }
});

function widthOf(bit: number, reg: string, size: number): number {
  return componentFields(bit, size).find(([n]) => n === reg)![2];
}

describe("whole frames", () => {
  test("random bytes ≥ 440 decode and re-encode exactly (both starts)", () => {
    const l = builtins[0]![1];
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 440, maxLength: 3500 }),
        fc.bigInt({ min: 0n, max: 1n << 47n }),
        fc.boolean(),
        (b, base, uc) => {
          const img = decodeSigframeImage(b, {
            layout: l,
            base,
            strict: false,
            start: uc ? "uc" : "pretcode",
          });
          assert.deepEqual(encodeSigframeImage(img), b);
        },
      ),
      { numRuns: 200 },
    );
  });

  test("garbage of any length decodes or fails with a located SigframeError, never anything else", () => {
    const l = builtins[0]![1];
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 3000 }), fc.boolean(), (b, frame) => {
        try {
          if (frame) decodeSigframeImage(b, { layout: l });
          else decodeFpstate(b, { layout: l });
        } catch (e) {
          assert.ok(isSigframeError(e), String(e));
          assert.ok(e.offset !== undefined || e.path !== undefined);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("truncation", () => {
  const l = builtins.find(([n]) => n === "intel-icelake-server")![1];
  const full = encodeFpstate(buildFpstate(l, emptyState(), "kernel"));

  test("shorter than the legacy region: offset and field path of the first missing field", () => {
    try {
      decodeFpstate(full.subarray(0, 100));
      assert.fail("no error");
    } catch (err) {
      assert.ok(err instanceof TruncatedInputError);
      assert.equal(err.path, "fpstate/legacy/st4");
      assert.equal(err.offset, 96);
    }
  });

  test("an XSAVE frame without its header", () => {
    try {
      decodeFpstate(full.subarray(0, 540));
      assert.fail("no error");
    } catch (err) {
      assert.ok(err instanceof TruncatedInputError);
      assert.equal(err.path, "fpstate/header/reserved1");
      assert.equal(err.offset, 536);
    }
  });

  test("an XSAVE frame cut before the magic2 its sizes announce", () => {
    try {
      decodeFpstate(full.subarray(0, 2000));
      assert.fail("no error");
    } catch (err) {
      assert.ok(err instanceof TruncatedInputError);
      assert.equal(err.path, "fpstate/magic2");
      assert.equal(err.offset, l.userSize);
    }
    // Lenient decoding keeps what is there.
    const fp = decodeFpstate(full.subarray(0, 2000), { layout: l, strict: false });
    assert.equal(fp.magic2, undefined);
    assert.ok(fp.components.some((c) => c.name === "ZMM_Hi256"));
    assert.ok(!fp.components.some((c) => c.name === "PKRU"));
  });

  test("a frame shorter than rt_sigframe", () => {
    assert.throws(
      () => decodeSigframeImage(new Uint8Array(300)),
      (e: unknown) => e instanceof TruncatedInputError && e.path === "frame",
    );
  });
});

describe("ia32 FPU area", () => {
  test("FSAVE header + image round trip, sw bytes at 112 + 464", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 112 + 512, maxLength: 1500 }), (b) => {
        const fp = decodeIa32Fpstate(b, { strict: false });
        assert.deepEqual(encodeIa32Fpstate(fp), b);
        const dv = new DataView(b.buffer);
        assert.equal(fp.fx!.sw.magic1, dv.getUint32(576, true));
        assert.equal(fp.fsave.magic, BigInt(dv.getUint16(110, true)));
        assert.equal(
          fp.fsave.st7,
          new DataView(b.buffer).getBigUint64(98, true) | (BigInt(dv.getUint16(106, true)) << 64n),
        );
      }),
      { numRuns: 100 },
    );
  });
});

test("an FXSR-only CPU's area (magic1, xstate_size 512, no header) decodes, and build writes one", () => {
  const fx = new Uint8Array(512);
  const dv = new DataView(fx.buffer);
  dv.setUint32(464, 0x46505853, true); // magic1
  dv.setUint32(468, 512, true); // extended_size
  dv.setBigUint64(472, 3n, true); // xfeatures
  dv.setUint32(480, 512, true); // xstate_size
  const fp = decodeFpstate(fx);
  assert.equal(fp.header, undefined);
  assert.equal(fp.sw.xstateSize, 512);
  // What build writes for a CPU without XSAVE (leaf 1 ECX.XSAVE clear) decodes the same way.
  const noXsave = profileFromCpuidR(
    "   0x00000000 0x00: eax=0x00000001 ebx=0x68747541 ecx=0x444d4163 edx=0x69746e65\n" +
      "   0x00000001 0x00: eax=0x00a60f12 ebx=0x00200800 ecx=0x00000201 edx=0x178bfbff\n",
    "fxsr-only",
  );
  const layout = computeLayout(noXsave);
  assert.equal(layout.xsave, false);
  const built = buildFpstate(layout, emptyState(), "kernel");
  assert.equal(built.size, 512);
  assert.equal(built.header, undefined);
  // An XSAVE-sized xstate_size still needs its header: cut at 512 it is a truncated XSAVE area.
  dv.setUint32(480, 832, true);
  assert.throws(() => decodeFpstate(fx), TruncatedInputError);
});
