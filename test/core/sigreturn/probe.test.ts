/**
 * Every row of the probe table (../shared/research/probe.md): the 6.18.44 kernel of this machine
 * (AMD Zen 5, XCR0 0xe7, user_size 2432), frames built by the kernel-style encoder and edited the
 * way the probe edited them. The register letters are read back from the bytes at the offsets the
 * prediction says XRSTOR/FXRSTOR loads from, so a wrong offset fails as surely as a wrong path.
 * 6.18.44 implements the classic policy (kernel.md §8); the refined column is the probe's
 * "new logic" where it gives one.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { predict } from "../../../src/core/sigreturn/predict.ts";
import type { Policy, Prediction } from "../../../src/core/sigreturn/types.ts";
import { FP_XSTATE_MAGIC1, FP_XSTATE_MAGIC2 } from "../../../src/core/xsave/components.ts";
import type { XsaveLayout } from "../../../src/core/xsave/layout.ts";
import { CORPUS, needs } from "../../helpers/shared.ts";
import {
  corpusLayout,
  deliveredFrame,
  Frame,
  LOCAL,
  LOCAL_MXCSR_MASK,
  PATTERN,
  patternValue,
  regAt,
  writeCompacted,
  writePatterns,
} from "./fixtures.ts";

const skip = needs(CORPUS, "the CPUID corpus");

interface Case {
  id: string;
  what: string;
  classic: string;
  refined?: string;
  make(l: XsaveLayout): { bytes: Uint8Array | null; address?: bigint; readable?: number };
}

const ALIGNED = 0x7ffc7741a180n; // the probe's delivered fpstate address (64-byte aligned)
const SLACK = 4096; // bytes mapped after the frame: the interrupted stack

function delivered(l: XsaveLayout): Frame {
  return new Frame(deliveredFrame(l), SLACK);
}
function patterned(l: XsaveLayout): Frame {
  const f = delivered(l);
  writePatterns(f.buf, l, PATTERN.F);
  return f;
}
const inPlace = (f: Frame) => ({ bytes: f.buf, address: ALIGNED });
/** The AVX-only layout of case 4: xstate_size 832, ext 836, xfeatures = xstate_bv = 0x7. */
function avxOnly(l: XsaveLayout, magicAt: number[], clearOld = true): Frame {
  const f = patterned(l);
  if (clearOld) f.setU32(l.userSize, 0);
  f.xstateSize = 832;
  f.extendedSize = 836;
  f.xfeatures = 0x7n;
  f.xstateBv = 0x7n;
  for (const m of magicAt) f.setU32(m, FP_XSTATE_MAGIC2);
  return f;
}

const CASES: Case[] = [
  { id: "0", what: "untouched", classic: "AAAAAA", make: (l) => inPlace(delivered(l)) },
  { id: "1", what: "patterns only", classic: "FFFFFF", make: (l) => inPlace(patterned(l)) },
  {
    id: "2",
    what: "magic2 corrupted",
    classic: "F0000F",
    make: (l) => inPlace(patterned(l).setU32(l.userSize, 0x12345678)),
  },
  {
    id: "2b",
    what: "magic2 corrupted + SSE cleared in xstate_bv",
    classic: "F0000F",
    make: (l) => {
      const f = patterned(l).setU32(l.userSize, 0);
      f.xstateBv = f.xstateBv & ~2n;
      return inPlace(f);
    },
  },
  {
    id: "3",
    what: "magic1 corrupted",
    classic: "F0000F",
    make: (l) => {
      const f = patterned(l);
      f.magic1 = 0;
      return inPlace(f);
    },
  },
  {
    id: "4",
    what: "AVX-only layout, magic2 moved to 832",
    classic: "FF000F",
    refined: "F0000F",
    make: (l) => inPlace(avxOnly(l, [832])),
  },
  {
    id: "4k",
    what: "as 4, magic2 at 832 and at user_size",
    classic: "FF000F",
    refined: "FF000F",
    make: (l) => inPlace(avxOnly(l, [832, l.userSize], false)),
  },
  {
    id: "4f",
    what: "xstate_size 832, magic2 at 832, xfeatures/xstate_bv full",
    classic: "FFFFMF",
    refined: "F0000F",
    make: (l) => {
      const f = avxOnly(l, [832]);
      f.xfeatures = 0xe7n;
      f.xstateBv = 0xe7n;
      return inPlace(f);
    },
  },
  {
    id: "4t",
    what: "as 4, PROT_NONE from offset 896",
    classic: "FF000F",
    refined: "SIGSEGV",
    make: (l) => ({ bytes: avxOnly(l, [832]).buf.slice(0, 896), address: ALIGNED, readable: 896 }),
  },
  {
    id: "4u",
    what: "as 4t with xfeatures/xstate_bv full",
    classic: "SIGSEGV",
    make: (l) => {
      const f = avxOnly(l, [832]);
      f.xfeatures = 0xe7n;
      f.xstateBv = 0xe7n;
      return { bytes: f.buf.slice(0, 896), address: ALIGNED, readable: 896 };
    },
  },
  {
    id: "5",
    what: "as 4, magic2 only at user_size",
    classic: "F0000F",
    refined: "FF000F",
    make: (l) => inPlace(avxOnly(l, [l.userSize], false)),
  },
  {
    id: "6",
    what: "xstate_size = user_size + 64, magic2 there (copy)",
    classic: "F0000F",
    make: (l) => {
      const f = patterned(l).setU32(l.userSize, 0);
      f.xstateSize = l.userSize + 64;
      f.extendedSize = l.userSize + 68;
      f.setU32(l.userSize + 64, FP_XSTATE_MAGIC2);
      return inPlace(f);
    },
  },
  {
    id: "6i",
    what: "xstate_size 2688 (Intel AVX-512), magic2 there (copy)",
    classic: "F0000F",
    make: (l) => {
      const f = patterned(l).setU32(l.userSize, 0);
      f.xstateSize = 2688;
      f.extendedSize = 2692;
      f.setU32(2688, FP_XSTATE_MAGIC2);
      return inPlace(f);
    },
  },
  {
    id: "6r",
    what: "relocated aligned copy, unmodified",
    classic: "FFFFFF",
    make: (l) => ({ bytes: patterned(l).buf, address: 0x5555_5555_8000n }),
  },
  {
    id: "7",
    what: "extended_size = xstate_size - 4",
    classic: "F0000F",
    make: (l) => {
      const f = patterned(l);
      f.extendedSize = l.userSize - 4;
      return inPlace(f);
    },
  },
  {
    id: "7b",
    what: "extended_size = xstate_size",
    classic: "FFFFFF",
    make: (l) => {
      const f = patterned(l);
      f.extendedSize = l.userSize;
      return inPlace(f);
    },
  },
  {
    id: "7c",
    what: "extended_size = 0xffffffff",
    classic: "FFFFFF",
    make: (l) => {
      const f = patterned(l);
      f.extendedSize = 0xffffffff;
      return inPlace(f);
    },
  },
  {
    id: "8",
    what: "sw xfeatures 0x7, xstate_bv 0xe7",
    classic: "FF000F",
    make: (l) => {
      const f = patterned(l);
      f.xfeatures = 0x7n;
      return inPlace(f);
    },
  },
  {
    id: "8b",
    what: "AVX bit cleared in xstate_bv",
    classic: "F0FFFF",
    make: (l) => {
      const f = patterned(l);
      f.xstateBv = f.xstateBv & ~4n;
      return inPlace(f);
    },
  },
  {
    id: "8c",
    what: "xstate_bv |= bit 9 (PKRU, not in XCR0)",
    classic: "SIGSEGV",
    make: (l) => {
      const f = patterned(l);
      f.xstateBv = f.xstateBv | (1n << 9n);
      return inPlace(f);
    },
  },
  {
    id: "9a",
    what: "xstate_bv |= bit 62",
    classic: "SIGSEGV",
    make: (l) => {
      const f = patterned(l);
      f.xstateBv = f.xstateBv | (1n << 62n);
      return inPlace(f);
    },
  },
  {
    id: "9b",
    what: "xcomp_bv = 1",
    classic: "SIGSEGV",
    make: (l) => {
      const f = patterned(l);
      f.xcompBv = 1n;
      return inPlace(f);
    },
  },
  {
    id: "9c",
    what: "header bytes 16..23 non-zero",
    classic: "SIGSEGV",
    make: (l) => inPlace(patterned(l).setU64(528, 0xfffffffn)),
  },
  {
    id: "9d",
    what: "header bytes 24..63 non-zero",
    classic: "FFFFFF",
    make: (l) => {
      const f = patterned(l);
      for (let o = 536; o < 576; o += 8) f.setU64(o, 0x0102030405060708n);
      return inPlace(f);
    },
  },
  {
    id: "9e",
    what: "compacted form, AVX-512 patterns at compacted offsets",
    classic: "FFCCCF",
    make: (l) => {
      const f = patterned(l);
      const bv = f.xstateBv;
      f.xcompBv = (1n << 63n) | bv;
      writeCompacted(f.buf, l, bv, PATTERN.C, [5, 6, 7]);
      return inPlace(f);
    },
  },
  {
    id: "10",
    what: "MXCSR bit 31",
    classic: "SIGSEGV",
    make: (l) => {
      const f = patterned(l);
      f.mxcsr = 0x80005f80;
      return inPlace(f);
    },
  },
  {
    id: "10b",
    what: "MXCSR bit 31 + magic1 corrupted (FXRSTOR)",
    classic: "SIGSEGV",
    make: (l) => {
      const f = patterned(l);
      f.mxcsr = 0x80005f80;
      f.magic1 = 0;
      return inPlace(f);
    },
  },
  {
    id: "10c",
    what: "MXCSR bit 31 + sw xfeatures 0x1",
    classic: "000000",
    make: (l) => {
      const f = patterned(l);
      f.mxcsr = 0x80005f80;
      f.xfeatures = 0x1n;
      return inPlace(f);
    },
  },
  { id: "11", what: "fpregs = NULL", classic: "000000", make: () => ({ bytes: null }) },
  {
    id: "12a",
    what: "fpstate at aligned + 8",
    classic: "SIGSEGV",
    make: (l) => ({ bytes: patterned(l).buf, address: ALIGNED + 8n }),
  },
  {
    id: "12b",
    what: "fpstate at aligned + 16",
    classic: "SIGSEGV",
    make: (l) => ({ bytes: patterned(l).buf, address: ALIGNED + 16n }),
  },
  {
    id: "12c",
    what: "+16 misaligned + magic1 corrupted",
    classic: "F0000F",
    make: (l) => {
      const f = patterned(l);
      f.magic1 = 0;
      return { bytes: f.buf, address: ALIGNED + 16n };
    },
  },
  {
    id: "13",
    what: "sw xfeatures 0x3",
    classic: "F0000F",
    make: (l) => {
      const f = patterned(l);
      f.xfeatures = 0x3n;
      return inPlace(f);
    },
  },
  {
    id: "13b",
    what: "sw xfeatures 0x3 + SSE cleared in xstate_bv",
    classic: "00000F",
    make: (l) => {
      const f = patterned(l);
      f.xfeatures = 0x3n;
      f.xstateBv = f.xstateBv & ~2n;
      return inPlace(f);
    },
  },
  {
    id: "14",
    what: "sw xfeatures = ~0",
    classic: "FFFFFF",
    make: (l) => {
      const f = patterned(l);
      f.xfeatures = (1n << 64n) - 1n;
      return inPlace(f);
    },
  },
  {
    id: "15",
    what: "xstate_size 572, magic2 at 572, ext 576",
    classic: "F0000F",
    make: (l) => {
      const f = patterned(l).setU32(l.userSize, 0);
      f.xstateSize = 572;
      f.extendedSize = 576;
      f.setU32(572, FP_XSTATE_MAGIC2);
      return inPlace(f);
    },
  },
  {
    id: "N",
    what: "nested: the outer frame after the inner handler returned",
    classic: "FFFFFF",
    make: (l) => inPlace(patterned(l)),
  },
];

/** "A", "F" or "C" when every byte of [off, off+len) is that pattern, else "?". */
function letterOf(bytes: Uint8Array, off: number, len: number): string {
  const all = (b: number) => bytes.subarray(off, off + len).every((x) => x === b);
  for (const [k, b] of Object.entries(PATTERN)) if (all(b)) return k;
  return "?";
}

/** The probe's six letters XMM YMMH ZMMH HI16 K MXCSR, read back from the frame bytes. */
function letters(p: Prediction, bytes: Uint8Array | null): string {
  if (p.signal) return "SIGSEGV";
  const region = (bit: number, size: number): string => {
    const c = p.components.find((x) => x.bit === bit)!;
    if (c.result === "init") return "0";
    assert.ok(bytes && c.offset !== undefined, `component ${c.name} from the frame needs an offset`);
    if (bit === 5) {
      // k0's low dword may be magic2 (4f): "M".
      const k0 = regAt(bytes!, 5, 64, c.offset!, "k0");
      const rest = letterOf(bytes!, c.offset! + 4, size - 4);
      if (Number(k0 & 0xffffffffn) === FP_XSTATE_MAGIC2 && rest === "F") return "M";
    }
    return letterOf(bytes!, c.offset!, size);
  };
  const xmm = region(1, 256);
  const mx =
    p.mxcsr === "init"
      ? "0"
      : (() => {
          const v = new DataView(bytes!.buffer, bytes!.byteOffset).getUint32(24, true) & 0x7fffffff;
          return v === 0x5f80 ? "F" : v === 0x3f80 ? "A" : "?";
        })();
  return xmm + region(2, 256) + region(6, 512) + region(7, 1024) + region(5, 64) + mx;
}

function run(c: Case, policy: Policy, l: XsaveLayout): { p: Prediction; got: string } {
  const m = c.make(l);
  const input: Parameters<typeof predict>[0] = {
    fpstate: m.bytes,
    task: l,
    policy,
    mxcsrMask: LOCAL_MXCSR_MASK,
  };
  if (m.address !== undefined) input.address = m.address;
  if (m.readable !== undefined) input.readableBytes = m.readable;
  const p = predict(input);
  return { p, got: letters(p, m.bytes) };
}

describe("probe.md on 6.18.44 (classic) — every row as observed", skip, () => {
  const l = skip.skip ? undefined : corpusLayout(LOCAL);
  test("the local profile is the probe's machine", () => {
    assert.equal(l!.xcr0, 0xe7n);
    assert.equal(l!.userSize, 2432);
    assert.deepEqual(
      l!.components.filter((c) => c.enabled && c.bit >= 2).map((c) => [c.bit, c.offset]),
      [
        [2, 576],
        [5, 832],
        [6, 896],
        [7, 1408],
      ],
    );
  });
  for (const c of CASES) {
    test(`case ${c.id}: ${c.what} → ${c.classic}`, () => {
      const { p, got } = run(c, "classic", l!);
      assert.equal(got, c.classic, `${p.reason}: ${p.detail}`);
    });
  }
  test("probe.md names the 37 cases and this file has them all", () => {
    assert.equal(CASES.length, 37);
  });
  test("delivered frame matches what the probe recorded (case 0)", () => {
    const f = new Frame(deliveredFrame(l!));
    assert.equal(f.u32(464), FP_XSTATE_MAGIC1);
    assert.equal(f.u32(468), 2436);
    assert.equal(f.u64(472), 0xe7n);
    assert.equal(f.u32(480), 2432);
    assert.equal(f.u32(2432), FP_XSTATE_MAGIC2);
    assert.equal(f.u64(512), 0xe7n);
    assert.equal(f.u64(520), 0n);
    assert.equal(f.u32(28), 0x2ffff);
  });
});

describe("probe.md 'new logic' column under the refined policy", skip, () => {
  const l = skip.skip ? undefined : corpusLayout(LOCAL);
  for (const c of CASES.filter((x) => x.refined)) {
    test(`case ${c.id} → ${c.refined}`, () => {
      const { p, got } = run(c, "refined", l!);
      assert.equal(got, c.refined, `${p.reason}: ${p.detail}`);
    });
  }
});

describe("kernel.md §8: the case that separates classic from refined on any layout", skip, () => {
  for (const file of [LOCAL, "intel-core-i7-4770-cpu-3-40ghz.json"]) {
    test(file, () => {
      const l = corpusLayout(file);
      const f = patterned(l);
      f.extendedSize = l.userSize - 4;
      f.xstateBv = f.xstateBv & ~2n;
      const classic = predict({ fpstate: f.buf, task: l, policy: "classic" });
      const refined = predict({ fpstate: f.buf, task: l, policy: "refined" });
      assert.equal(classic.path, "fxrstor-fallback");
      assert.equal(classic.components.find((c) => c.bit === 1)!.result, "frame");
      assert.equal(refined.path, "xrstor");
      assert.equal(refined.components.find((c) => c.bit === 1)!.result, "init");
      assert.equal(patternValue(PATTERN.F, 16), f.u64(160) | (f.u64(168) << 64n));
    });
  }
});
