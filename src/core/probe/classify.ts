/**
 * One letter per register region, as in the research probe:
 *   F  pattern F came back (what the handler wrote into the frame's saved registers)
 *   A  the value from before the signal is still there (pattern A)
 *   0  init state (zero; MXCSR 0x1f80)
 *   C  pattern C came back (written at the compacted-form offsets)
 *   M  the frame's bytes came back, but they are not pattern F: another write landed on them
 *      (e.g. magic2 read back as the low dword of k0)
 *   ?  anything else, or a mix
 *   -  the CPU (or XCR0) does not have the region
 * The same classifier turns the model's prediction into letters (simulate()), so observed and
 * predicted are compared letter for letter.
 */
import type { Prediction } from "../sigreturn/types.ts";
import type { XsaveLayout } from "../xsave/layout.ts";
import type { Patterns } from "./patterns.ts";
import {
  frameOffset,
  type Isa,
  initImage,
  MXCSR_OFFSET,
  REGION_NAMES,
  REGIONS,
  type RegImage,
  type RegionName,
  regionsOf,
  regionValue,
  setRegionValue,
  standardOffset,
} from "./regions.ts";

export interface ClassifyContext {
  isa: Isa;
  /** Opmask bits read back: 64 with AVX512BW (kmovq), 16 without (kmovw). */
  kBits: number;
  layout: XsaveLayout;
  patterns: Patterns;
  /** The fpstate bytes at sigreturn (absent bytes read as zero); for `M`. */
  frame?: Uint8Array | null;
}

function bytesAt(frame: Uint8Array, off: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  if (off < frame.length) out.set(frame.subarray(off, Math.min(frame.length, off + n)));
  return out;
}

function equal(a: Uint8Array, b: Uint8Array, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function classifyRegion(img: RegImage, region: RegionName, ctx: ClassifyContext): string {
  if (!regionsOf(ctx.isa).includes(region)) return "-";
  const g = REGIONS[region];
  const width = region === "K" ? Math.max(1, Math.min(8, ctx.kBits / 8)) : g.bytes;
  const init = initImage();
  const candidates: [string, (i: number) => Uint8Array | undefined][] = [
    ["F", (i) => regionValue(ctx.patterns.F, region, i)],
    ["A", (i) => regionValue(ctx.patterns.A, region, i)],
    ["0", (i) => regionValue(init, region, i)],
    [
      "C",
      (i) => (region === "MXCSR" || region === "XMM" ? undefined : regionValue(ctx.patterns.C, region, i)),
    ],
    [
      "M",
      (i) => {
        const f = ctx.frame;
        if (!f) return undefined;
        return bytesAt(f, frameOffset(region, standardOffset(ctx.layout, region), i), g.bytes);
      },
    ],
  ];
  for (const [letter, expected] of candidates) {
    let all = true;
    for (let i = 0; i < g.count && all; i++) {
      const want = expected(i);
      all = want !== undefined && equal(regionValue(img, region, i), want, width);
    }
    if (all) return letter;
  }
  return "?";
}

/** The six letters XMM YMMH ZMMH HI16 K MXCSR. */
export function classify(img: RegImage, ctx: ClassifyContext): string {
  return REGION_NAMES.map((r) => classifyRegion(img, r, ctx)).join("");
}

/**
 * The registers the model says sigreturn leaves: each component either from the frame bytes at
 * the offset the model reads it from, or init. Undefined for a fault (SIGSEGV).
 */
export function simulate(
  p: Prediction,
  frame: Uint8Array | null,
  layout: XsaveLayout,
  isa: Isa,
): RegImage | undefined {
  if (p.signal !== null) return undefined;
  const img = initImage();
  if (!frame) return img;
  for (const region of regionsOf(isa)) {
    if (region === "MXCSR") {
      if (p.mxcsr === "frame") setRegionValue(img, region, 0, bytesAt(frame, MXCSR_OFFSET, 4));
      continue;
    }
    const g = REGIONS[region];
    const comp = p.components.find((c) => c.bit === g.bit);
    if (comp?.result !== "frame") continue;
    const base = comp.offset ?? standardOffset(layout, region);
    for (let i = 0; i < g.count; i++) {
      setRegionValue(img, region, i, bytesAt(frame, frameOffset(region, base, i), g.bytes));
    }
  }
  return img;
}
