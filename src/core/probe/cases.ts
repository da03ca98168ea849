/**
 * The probe's cases: each is a frame edit the signal handler applies before sigreturn, computed
 * from the receiving task's layout (component offsets from CPUID leaf 0xD, user_size, XCR0).
 * Pure: no I/O. The native helper applies the edits; analyze.ts compares what came back with
 * the sigreturn model.
 *
 * The checks exercised are those of check_xstate_in_sigframe() (arch/x86/kernel/fpu/signal.c),
 * its dc8aa31a7ac2 variant, and XRSTOR/FXRSTOR's own faults (Intel SDM vol. 1 §13.8).
 */
import { bit, hasBit } from "../hex.ts";
import type { Profile } from "../profile.ts";
import {
  FP_XSTATE_MAGIC2,
  MASK_FPSSE,
  MIN_XSTATE_SIZE,
  SW_BYTES_OFFSET,
  XFEATURE,
  XSAVE_HDR_OFFSET,
} from "../xsave/components.ts";
import { compactedLayout, standardSize, type XsaveLayout } from "../xsave/layout.ts";
import { type Patterns, patterns } from "./patterns.ts";
import {
  frameOffset,
  type Isa,
  isaOf,
  MXCSR_OFFSET,
  REGIONS,
  type RegImage,
  type RegionName,
  regionsOf,
  regionValue,
  standardOffset,
} from "./regions.ts";

export type Placement =
  | { kind: "inplace" }
  /** A fresh, zero-filled mapping; the fpstate `align` bytes past a page boundary. */
  | { kind: "copy"; align: number }
  /** The fpstate ends `readable` bytes before a PROT_NONE page. */
  | { kind: "guard"; readable: number }
  | { kind: "null" };

export interface FrameWrite {
  offset: number;
  bytes: Uint8Array;
}

export interface FrameEdit {
  place: Placement;
  /** copy/guard: bytes of the delivered frame copied first (default: all of it, as far as mapped). */
  copyLen?: number;
  /** Take a nested signal in the handler after the writes. */
  nested?: boolean;
  writes: FrameWrite[];
}

/**
 * What the case's child does about AMX before the signal (native/amx.c): nothing (`none`, a task
 * without the permission), request the tile-data
 * permission and load tiles (`tiles`; `release` then releases them), request it only (`perm`),
 * run LDTILECFG (`cfg`) or a tile-data instruction (`touch`) without it; try sigaltstack sizes
 * before or after the request; deliver a signal on a sigaltstack of `sasDeliver` bytes.
 */
export interface AmxSetup {
  mode: "none" | "tiles" | "release" | "perm" | "cfg" | "touch";
  sasBefore?: number;
  sasAfter?: number;
  /** After the rest, a signal delivered with SA_ONSTACK on a page-aligned sigaltstack of this size. */
  sasDeliver?: number;
  /** 64-byte tile configuration and the 8 KiB of tile data loaded by `tiles`/`release`. */
  tilecfg?: Uint8Array;
  tiles?: Uint8Array;
}

export interface ProbeCase {
  id: string;
  description: string;
  edit: FrameEdit;
  /** Set when the case cannot run on this layout. */
  skip?: string;
  /** AMX preparation (src/core/probe/amx.ts). */
  amx?: AmxSetup;
}

/** What the generator needs to know about the receiving task. */
export interface CaseContext {
  layout: XsaveLayout;
  isa: Isa;
  /** The compacted form is supported (CPUID(0xD,1).EAX[1], XSAVEC). */
  xsavec: boolean;
  /** The frame the kernel writes: default from the layout (user_size, user features). */
  frame?: { xstateSize: number; xfeatures: bigint };
}

interface Env {
  layout: XsaveLayout;
  isa: Isa;
  xsavec: boolean;
  /** xstate_size of the delivered frame (= user_size). */
  U: number;
  /** sw.xfeatures of the delivered frame (= user features). */
  X: bigint;
  pat: Patterns;
  /** A CRIU-style smaller frame: what a CPU with fewer features writes. */
  small?: { mask: bigint; size: number };
}

interface CaseDef {
  id: string;
  description: (e: Env) => string;
  /** A reason to skip, or undefined. */
  needs?: (e: Env) => string | undefined;
  edit: (e: Env) => FrameEdit;
}

// ---- write helpers ----

export function u32(offset: number, v: number): FrameWrite {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return { offset, bytes: b };
}

export function u64(offset: number, v: bigint): FrameWrite {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, v), true);
  return { offset, bytes: b };
}

/** Offsets of the software bytes and of the XSAVE header fields in the fpstate. */
export const SW = {
  magic1: SW_BYTES_OFFSET,
  extendedSize: SW_BYTES_OFFSET + 4,
  xfeatures: SW_BYTES_OFFSET + 8,
  xstateSize: SW_BYTES_OFFSET + 16,
};
export const HDR = { xstateBv: XSAVE_HDR_OFFSET, xcompBv: XSAVE_HDR_OFFSET + 8 };
const BAD_MAGIC = 0;

/** Writes image `img` into every register region of the ISA at `offsetOf(region)`. */
export function regionWrites(
  isa: Isa,
  img: RegImage,
  offsetOf: (r: RegionName) => number | undefined,
  regions: RegionName[] = regionsOf(isa),
): FrameWrite[] {
  const out: FrameWrite[] = [];
  for (const r of regions) {
    const base = offsetOf(r);
    if (base === undefined) continue;
    const g = REGIONS[r];
    const bytes = new Uint8Array(g.count * g.bytes);
    for (let i = 0; i < g.count; i++) bytes.set(regionValue(img, r, i), i * g.bytes);
    out.push({ offset: frameOffset(r, base, 0), bytes });
  }
  return out;
}

/** Pattern F at the standard offsets of this layout. */
function frameRegs(e: Env): FrameWrite[] {
  return regionWrites(e.isa, e.pat.F, (r) => standardOffset(e.layout, r));
}

/** Drops the parts of writes that lie at or past `limit` (bytes that are not mapped). */
export function clipWrites(writes: FrameWrite[], limit: number): FrameWrite[] {
  const out: FrameWrite[] = [];
  for (const w of writes) {
    if (w.offset >= limit) continue;
    out.push({ offset: w.offset, bytes: w.bytes.subarray(0, Math.min(w.bytes.length, limit - w.offset)) });
  }
  return out;
}

const roundUp64 = (n: number) => Math.ceil(n / 64) * 64;

/** The smaller frame a CPU with fewer features writes: AVX-only (x87|SSE|YMM), else x87|SSE. */
export function smallerFrame(layout: XsaveLayout): { mask: bigint; size: number } | undefined {
  if (!layout.xsave) return undefined;
  for (const mask of [MASK_FPSSE | bit(XFEATURE.YMM), MASK_FPSSE]) {
    if ((mask & layout.userFeatures) !== mask) continue;
    const size = standardSize(layout, mask);
    if (size < layout.userSize) return { mask, size };
  }
  return undefined;
}

/** A bit that XSTATE_BV may not have here: PKRU (9) where XCR0 lacks it, else the lowest free one. */
function bitOutsideXcr0(e: Env): number {
  if (!hasBit(e.layout.xcr0, XFEATURE.PKRU)) return XFEATURE.PKRU;
  for (let i = 2; i < 62; i++) if (!hasBit(e.layout.xcr0, i)) return i;
  return 62;
}

const needXsave = (e: Env) =>
  e.layout.xsave
    ? undefined
    : "the kernel writes FXSAVE-only frames here (no XSAVE): no software bytes to break";
const needSmall = (e: Env) =>
  needXsave(e) ??
  (e.small
    ? undefined
    : "no smaller standard-format frame exists below user_size on this layout (x87/SSE only)");
const needAvx = (e: Env) =>
  needXsave(e) ?? (e.isa === "sse" ? "the CPU (or XCR0) has no AVX: no YMM state to clear" : undefined);

/** The small frame's software bytes and magic2; `magic2AtUser`: keep the kernel's magic2 at user_size. */
function smallFrame(
  e: Env,
  opts: { features: boolean; magic2AtSmall: boolean; magic2AtUser: boolean },
): FrameWrite[] {
  const s = e.small!;
  const w = [...frameRegs(e), u32(SW.xstateSize, s.size), u32(SW.extendedSize, s.size + 4)];
  if (opts.features) w.push(u64(SW.xfeatures, s.mask), u64(HDR.xstateBv, s.mask));
  if (!opts.magic2AtUser) w.push(u32(e.U, BAD_MAGIC));
  if (opts.magic2AtSmall) w.push(u32(s.size, FP_XSTATE_MAGIC2));
  return w;
}

const smallDesc = (e: Env) =>
  e.small ? `xstate_size ${e.small.size}, xfeatures 0x${e.small.mask.toString(16)}` : "smaller frame";

export const CASE_DEFS: readonly CaseDef[] = [
  {
    id: "untouched",
    description: () => "frame as delivered, nothing written",
    edit: () => ({ place: { kind: "inplace" }, writes: [] }),
  },
  {
    id: "patterns",
    description: () => "frame registers overwritten with pattern F, software bytes and header untouched",
    edit: (e) => ({ place: { kind: "inplace" }, writes: frameRegs(e) }),
  },
  {
    id: "magic1-bad",
    description: () => "sw.magic1 corrupted",
    needs: needXsave,
    edit: (e) => ({ place: { kind: "inplace" }, writes: [...frameRegs(e), u32(SW.magic1, BAD_MAGIC)] }),
  },
  {
    id: "magic2-bad",
    description: (e) => `magic2 at xstate_size (${e.U}) corrupted`,
    needs: needXsave,
    edit: (e) => ({ place: { kind: "inplace" }, writes: [...frameRegs(e), u32(e.U, BAD_MAGIC)] }),
  },
  {
    id: "magic2-bad-sse-clear",
    description: () => "magic2 corrupted and SSE cleared in xstate_bv (FXRSTOR ignores xstate_bv)",
    needs: needXsave,
    edit: (e) => ({
      place: { kind: "inplace" },
      writes: [...frameRegs(e), u32(e.U, BAD_MAGIC), u64(HDR.xstateBv, e.X & ~bit(XFEATURE.SSE))],
    }),
  },
  {
    id: "xstate-size-below-min",
    description: () =>
      `xstate_size ${MIN_XSTATE_SIZE - 4} (< ${MIN_XSTATE_SIZE}), magic2 there, extended_size ${MIN_XSTATE_SIZE}`,
    needs: needXsave,
    edit: (e) => ({
      place: { kind: "inplace" },
      writes: [
        ...frameRegs(e),
        u32(SW.xstateSize, MIN_XSTATE_SIZE - 4),
        u32(SW.extendedSize, MIN_XSTATE_SIZE),
        u32(MIN_XSTATE_SIZE - 4, FP_XSTATE_MAGIC2),
      ],
    }),
  },
  {
    id: "xstate-size-above-user",
    description: (e) => `xstate_size ${e.U + 64} (> user_size ${e.U}), magic2 there; relocated copy`,
    needs: needXsave,
    edit: (e) => ({
      place: { kind: "copy", align: 0 },
      writes: [
        ...frameRegs(e),
        u32(SW.xstateSize, e.U + 64),
        u32(SW.extendedSize, e.U + 68),
        u32(e.U + 64, FP_XSTATE_MAGIC2),
      ],
    }),
  },
  {
    id: "extended-size-below",
    description: () => "extended_size = xstate_size - 4",
    needs: needXsave,
    edit: (e) => ({ place: { kind: "inplace" }, writes: [...frameRegs(e), u32(SW.extendedSize, e.U - 4)] }),
  },
  {
    id: "extended-size-equal",
    description: () => "extended_size = xstate_size (only > is rejected)",
    needs: needXsave,
    edit: (e) => ({ place: { kind: "inplace" }, writes: [...frameRegs(e), u32(SW.extendedSize, e.U)] }),
  },
  {
    id: "extended-size-max",
    description: () => "extended_size = 0xffffffff",
    needs: needXsave,
    edit: (e) => ({
      place: { kind: "inplace" },
      writes: [...frameRegs(e), u32(SW.extendedSize, 0xffffffff)],
    }),
  },
  {
    id: "small-frame",
    description: (e) => `CRIU-style smaller frame (${smallDesc(e)}), magic2 moved to its own xstate_size`,
    needs: needSmall,
    edit: (e) => ({
      place: { kind: "inplace" },
      writes: smallFrame(e, { features: true, magic2AtSmall: true, magic2AtUser: false }),
    }),
  },
  {
    id: "small-frame-magic2-both",
    description: (e) => `smaller frame (${smallDesc(e)}), magic2 at its xstate_size and at user_size`,
    needs: needSmall,
    edit: (e) => ({
      place: { kind: "inplace" },
      writes: smallFrame(e, { features: true, magic2AtSmall: true, magic2AtUser: true }),
    }),
  },
  {
    id: "small-frame-magic2-at-user",
    description: (e) => `smaller frame (${smallDesc(e)}), magic2 only at user_size ${e.U}`,
    needs: needSmall,
    edit: (e) => ({
      place: { kind: "inplace" },
      writes: smallFrame(e, { features: true, magic2AtSmall: false, magic2AtUser: true }),
    }),
  },
  {
    id: "small-frame-all-features",
    description: (e) =>
      `xstate_size ${e.small?.size ?? "small"} with magic2 there, xfeatures and xstate_bv left full (XRSTOR reads past xstate_size)`,
    needs: needSmall,
    edit: (e) => ({
      place: { kind: "inplace" },
      writes: smallFrame(e, { features: false, magic2AtSmall: true, magic2AtUser: false }),
    }),
  },
  {
    id: "small-frame-guard",
    description: (e) =>
      `smaller frame (${smallDesc(e)}) copied so that a PROT_NONE page follows at ${e.small ? roundUp64(e.small.size + 4) : "its end"}`,
    needs: needSmall,
    edit: (e) => {
      const readable = roundUp64(e.small!.size + 4);
      const w = smallFrame(e, { features: true, magic2AtSmall: true, magic2AtUser: true });
      return { place: { kind: "guard", readable }, copyLen: readable, writes: clipWrites(w, readable) };
    },
  },
  {
    id: "small-frame-guard-all-features",
    description: () =>
      "as small-frame-guard, xfeatures and xstate_bv left full (XRSTOR reads into the guard page)",
    needs: needSmall,
    edit: (e) => {
      const readable = roundUp64(e.small!.size + 4);
      const w = smallFrame(e, { features: false, magic2AtSmall: true, magic2AtUser: true });
      return { place: { kind: "guard", readable }, copyLen: readable, writes: clipWrites(w, readable) };
    },
  },
  {
    id: "policy-separator",
    description: () =>
      "magic2 at xstate_size, extended_size = xstate_size - 4, SSE cleared in xstate_bv (separates classic from refined on every layout)",
    needs: needXsave,
    edit: (e) => ({
      place: { kind: "inplace" },
      writes: [...frameRegs(e), u32(SW.extendedSize, e.U - 4), u64(HDR.xstateBv, e.X & ~bit(XFEATURE.SSE))],
    }),
  },
  {
    id: "relocated",
    description: () => "frame copied to a 64-byte aligned buffer (control for the copies)",
    edit: (e) => ({ place: { kind: "copy", align: 0 }, writes: frameRegs(e) }),
  },
  {
    id: "xfeatures-subset",
    description: (e) =>
      `sw.xfeatures 0x${(e.small?.mask ?? MASK_FPSSE).toString(16)}, xstate_bv full (bits not in sw.xfeatures)`,
    needs: needSmall,
    edit: (e) => ({
      place: { kind: "inplace" },
      writes: [...frameRegs(e), u64(SW.xfeatures, e.small!.mask), u64(HDR.xstateBv, e.X)],
    }),
  },
  {
    id: "xfeatures-fpsse",
    description: () => "sw.xfeatures = x87|SSE, sizes and magic intact",
    needs: needXsave,
    edit: (e) => ({ place: { kind: "inplace" }, writes: [...frameRegs(e), u64(SW.xfeatures, MASK_FPSSE)] }),
  },
  {
    id: "xfeatures-fpsse-sse-clear",
    description: () => "sw.xfeatures = x87|SSE and SSE cleared in xstate_bv (XRSTOR still loads MXCSR)",
    needs: needXsave,
    edit: (e) => ({
      place: { kind: "inplace" },
      writes: [...frameRegs(e), u64(SW.xfeatures, MASK_FPSSE), u64(HDR.xstateBv, e.X & ~bit(XFEATURE.SSE))],
    }),
  },
  {
    id: "xfeatures-all",
    description: () => "sw.xfeatures = all ones (masked with the task's features)",
    needs: needXsave,
    edit: (e) => ({
      place: { kind: "inplace" },
      writes: [...frameRegs(e), u64(SW.xfeatures, (1n << 64n) - 1n)],
    }),
  },
  {
    id: "xstate-bv-ymm-clear",
    description: () => "YMM cleared in xstate_bv",
    needs: needAvx,
    edit: (e) => ({
      place: { kind: "inplace" },
      writes: [...frameRegs(e), u64(HDR.xstateBv, e.X & ~bit(XFEATURE.YMM))],
    }),
  },
  {
    id: "xstate-bv-outside-xcr0",
    description: (e) => `xstate_bv | bit ${bitOutsideXcr0(e)} (not in XCR0 0x${e.layout.xcr0.toString(16)})`,
    needs: needXsave,
    edit: (e) => ({
      place: { kind: "inplace" },
      writes: [...frameRegs(e), u64(HDR.xstateBv, e.X | bit(bitOutsideXcr0(e)))],
    }),
  },
  {
    id: "xstate-bv-reserved",
    description: () => "xstate_bv | bit 62 (reserved in XCR0)",
    needs: needXsave,
    edit: (e) => ({
      place: { kind: "inplace" },
      writes: [...frameRegs(e), u64(HDR.xstateBv, e.X | bit(62))],
    }),
  },
  {
    id: "xcomp-bv-one",
    description: () => "xcomp_bv = 1 (non-zero, bit 63 clear)",
    needs: needXsave,
    edit: (e) => ({ place: { kind: "inplace" }, writes: [...frameRegs(e), u64(HDR.xcompBv, 1n)] }),
  },
  {
    id: "header-bytes-16-23",
    description: () => "XSAVE header bytes 16..23 non-zero",
    needs: needXsave,
    edit: (e) => ({ place: { kind: "inplace" }, writes: [...frameRegs(e), u64(XSAVE_HDR_OFFSET + 16, 1n)] }),
  },
  {
    id: "header-bytes-24-63",
    description: () => "XSAVE header bytes 24..63 non-zero (the standard form checks 8..23 only)",
    needs: needXsave,
    edit: (e) => ({
      place: { kind: "inplace" },
      writes: [...frameRegs(e), { offset: XSAVE_HDR_OFFSET + 24, bytes: new Uint8Array(40).fill(0x5a) }],
    }),
  },
  {
    id: "compacted",
    description: () => "compacted form: xcomp_bv = bit 63 | xstate_bv, pattern C at the compacted offsets",
    needs: (e) =>
      needXsave(e) ??
      (e.xsavec ? undefined : "the CPU has no XSAVEC: XRSTOR does not take the compacted form here"),
    edit: (e) => {
      // Only the vector/opmask components: garbage in PKRU or AMX state would hurt the child.
      const mask = e.X & 0xffn & ~bit(XFEATURE.PKRU);
      const comp = compactedLayout(e.layout, mask);
      const extended = regionsOf(e.isa).filter((r) => r !== "XMM" && r !== "MXCSR");
      return {
        place: { kind: "inplace" },
        writes: [
          ...frameRegs(e),
          ...regionWrites(e.isa, e.pat.C, (r) => comp.get(REGIONS[r].bit), extended),
          u64(HDR.xstateBv, mask),
          u64(HDR.xcompBv, (1n << 63n) | mask),
        ],
      };
    },
  },
  {
    id: "mxcsr-reserved",
    description: () => "MXCSR bit 31 set (outside MXCSR_MASK)",
    edit: (e) => ({
      place: { kind: "inplace" },
      writes: [...frameRegs(e), u32(MXCSR_OFFSET, 0x80000000 | e.pat.F.mxcsr)],
    }),
  },
  {
    id: "mxcsr-reserved-fxrstor",
    description: () => "MXCSR bit 31 set and magic1 corrupted (FXRSTOR path)",
    needs: needXsave,
    edit: (e) => ({
      place: { kind: "inplace" },
      writes: [...frameRegs(e), u32(MXCSR_OFFSET, 0x80000000 | e.pat.F.mxcsr), u32(SW.magic1, BAD_MAGIC)],
    }),
  },
  {
    id: "mxcsr-reserved-x87-only",
    description: () => "MXCSR bit 31 set and sw.xfeatures = x87 (MXCSR is not loaded)",
    needs: needXsave,
    edit: (e) => ({
      place: { kind: "inplace" },
      writes: [...frameRegs(e), u32(MXCSR_OFFSET, 0x80000000 | e.pat.F.mxcsr), u64(SW.xfeatures, 1n)],
    }),
  },
  {
    id: "null-fpstate",
    description: () => "uc_mcontext.fpstate = NULL",
    edit: () => ({ place: { kind: "null" }, writes: [] }),
  },
  {
    id: "misaligned-8",
    description: () => "fpstate copied to a 64-byte boundary + 8",
    edit: (e) => ({ place: { kind: "copy", align: 8 }, writes: frameRegs(e) }),
  },
  {
    id: "misaligned-16",
    description: () => "fpstate copied to a 64-byte boundary + 16",
    edit: (e) => ({ place: { kind: "copy", align: 16 }, writes: frameRegs(e) }),
  },
  {
    id: "misaligned-16-magic1-bad",
    description: () => "fpstate at a 64-byte boundary + 16 with magic1 corrupted (FXRSTOR needs 16)",
    needs: needXsave,
    edit: (e) => ({
      place: { kind: "copy", align: 16 },
      writes: [...frameRegs(e), u32(SW.magic1, BAD_MAGIC)],
    }),
  },
  {
    id: "nested",
    description: () => "pattern F written, then a nested signal taken inside the handler",
    edit: (e) => ({ place: { kind: "inplace" }, nested: true, writes: frameRegs(e) }),
  },
];

export const CASE_IDS: readonly string[] = CASE_DEFS.map((d) => d.id);

/** Every case, computed for this task (skipped ones carry the reason). */
export function probeCases(ctx: CaseContext): ProbeCase[] {
  const layout = ctx.layout;
  const e: Env = {
    layout,
    isa: ctx.isa,
    xsavec: ctx.xsavec,
    U: ctx.frame?.xstateSize ?? layout.frame.xstateSize,
    X: ctx.frame?.xfeatures ?? layout.userFeatures,
    pat: patterns(),
  };
  const small = smallerFrame(layout);
  if (small) e.small = small;
  return CASE_DEFS.map((d) => {
    const skip = d.needs?.(e);
    const c: ProbeCase = {
      id: d.id,
      description: d.description(e),
      edit: skip ? { place: { kind: "inplace" }, writes: [] } : d.edit(e),
    };
    if (skip) c.skip = skip;
    return c;
  });
}

/** The context for a profile's own layout: register set from XCR0, XSAVEC from CPUID, observed frame. */
export function caseContextFor(profile: Profile, layout: XsaveLayout, isa: Isa = isaOf(layout)): CaseContext {
  const ctx: CaseContext = { layout, isa, xsavec: profile.cpuid.has("XSAVEC") };
  if (profile.observed)
    ctx.frame = { xstateSize: profile.observed.xstateSize, xfeatures: profile.observed.xfeatures };
  return ctx;
}
