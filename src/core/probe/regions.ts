/**
 * Register images and the six regions the probe classifies: XMM (low 128 bits of xmm0-15),
 * YMMH (bits 128-255 of regs 0-15), ZMMH (bits 256-511 of regs 0-15), HI16 (zmm16-31), K
 * (k0-7) and MXCSR. Each region is backed by one XSAVE component; where it sits in a frame
 * comes from the layout (CPUID leaf 0xD), never from hard-coded offsets.
 */
import { MXCSR_INIT } from "../mxcsr.ts";
import { XFEATURE } from "../xsave/components.ts";
import { componentOf, type XsaveLayout } from "../xsave/layout.ts";

/** The widest register set the probe loads: AVX-512 → zmm0-31 + k0-7, AVX → ymm0-15, else xmm0-15. */
export type Isa = "sse" | "avx" | "avx512";

export const REGION_NAMES = ["XMM", "YMMH", "ZMMH", "HI16", "K", "MXCSR"] as const;
export type RegionName = (typeof REGION_NAMES)[number];

/** Vector registers as 64 bytes each (xmm/ymm use the low 16/32), k0-7, MXCSR. */
export interface RegImage {
  v: Uint8Array[];
  k: bigint[];
  mxcsr: number;
}

export const NVEC = 32;
export const VEC_BYTES = 64;
export { MXCSR_INIT };
/** Offsets in the legacy region (arch/x86/include/uapi/asm/sigcontext.h, struct _fpstate_64). */
export const MXCSR_OFFSET = 24;
export const XMM_OFFSET = 160;

export interface RegionGeometry {
  name: RegionName;
  /** The XSAVE component that holds it. */
  bit: number;
  /** Registers in the region and the bytes of each. */
  count: number;
  bytes: number;
}

export const REGIONS: Record<RegionName, RegionGeometry> = {
  XMM: { name: "XMM", bit: XFEATURE.SSE, count: 16, bytes: 16 },
  YMMH: { name: "YMMH", bit: XFEATURE.YMM, count: 16, bytes: 16 },
  ZMMH: { name: "ZMMH", bit: XFEATURE.ZMM_Hi256, count: 16, bytes: 32 },
  HI16: { name: "HI16", bit: XFEATURE.Hi16_ZMM, count: 16, bytes: 64 },
  K: { name: "K", bit: XFEATURE.OPMASK, count: 8, bytes: 8 },
  MXCSR: { name: "MXCSR", bit: XFEATURE.SSE, count: 1, bytes: 4 },
};

/** Which regions a register set has. */
export function regionsOf(isa: Isa): RegionName[] {
  if (isa === "avx512") return [...REGION_NAMES];
  if (isa === "avx") return ["XMM", "YMMH", "MXCSR"];
  return ["XMM", "MXCSR"];
}

/** The register set the probe uses on a task with this layout (what the helper picks from XCR0). */
export function isaOf(layout: XsaveLayout): Isa {
  const on = (b: number) => componentOf(layout, b)?.enabled === true;
  if (layout.xsave && on(XFEATURE.OPMASK) && on(XFEATURE.ZMM_Hi256) && on(XFEATURE.Hi16_ZMM)) return "avx512";
  if (layout.xsave && on(XFEATURE.YMM)) return "avx";
  return "sse";
}

/** Register i of a region as bytes (little-endian for k and MXCSR). */
export function regionValue(img: RegImage, region: RegionName, i: number): Uint8Array {
  switch (region) {
    case "XMM":
      return img.v[i]!.subarray(0, 16);
    case "YMMH":
      return img.v[i]!.subarray(16, 32);
    case "ZMMH":
      return img.v[i]!.subarray(32, 64);
    case "HI16":
      return img.v[16 + i]!.subarray(0, 64);
    case "K":
      return le(img.k[i]!, 8);
    case "MXCSR":
      return le(BigInt(img.mxcsr >>> 0), 4);
  }
}

/** Sets register i of a region from bytes. */
export function setRegionValue(img: RegImage, region: RegionName, i: number, b: Uint8Array): void {
  switch (region) {
    case "XMM":
      img.v[i]!.set(b.subarray(0, 16), 0);
      return;
    case "YMMH":
      img.v[i]!.set(b.subarray(0, 16), 16);
      return;
    case "ZMMH":
      img.v[i]!.set(b.subarray(0, 32), 32);
      return;
    case "HI16":
      img.v[16 + i]!.set(b.subarray(0, 64), 0);
      return;
    case "K":
      img.k[i] = fromLe(b.subarray(0, 8));
      return;
    case "MXCSR":
      img.mxcsr = Number(fromLe(b.subarray(0, 4)));
      return;
  }
}

/**
 * Offset in the fpstate of register i of a region, given the offset of its component (the
 * standard-format CPUID(0xD,i).EBX, or a compacted offset). XMM and MXCSR live in the legacy region.
 */
export function frameOffset(region: RegionName, componentOffset: number, i: number): number {
  if (region === "XMM") return XMM_OFFSET + 16 * i;
  if (region === "MXCSR") return MXCSR_OFFSET;
  return componentOffset + REGIONS[region].bytes * i;
}

/** Standard-format offset of the component behind a region on this layout. */
export function standardOffset(layout: XsaveLayout, region: RegionName): number {
  if (region === "XMM") return XMM_OFFSET;
  if (region === "MXCSR") return MXCSR_OFFSET;
  return componentOf(layout, REGIONS[region].bit)?.offset ?? 0;
}

export function emptyImage(): RegImage {
  return {
    v: Array.from({ length: NVEC }, () => new Uint8Array(VEC_BYTES)),
    k: Array.from({ length: 8 }, () => 0n),
    mxcsr: 0,
  };
}

/** The architectural init state: all vector and opmask bits zero, MXCSR 0x1f80. */
export function initImage(): RegImage {
  const img = emptyImage();
  img.mxcsr = MXCSR_INIT;
  return img;
}

function le(v: bigint, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

function fromLe(b: Uint8Array): bigint {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  return v;
}
