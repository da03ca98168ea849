/**
 * A profile from a standard-format placement of XSAVE components (what an image records instead
 * of CPUID: a core's notes, the frames on its stacks), and the vendors' published placements.
 * CPUID leaves 0, 1, 7 and 0xD are rebuilt so the layout engine gives that placement.
 */
import { Cpuid, type CpuidLeaf } from "../cpuid/cpuid.ts";
import { bitsOf, hasBit } from "../hex.ts";
import type { Profile } from "../profile.ts";
import { MIN_XSTATE_SIZE, VENDOR_OFFSETS, type Vendor, XFEATURE } from "../xsave/components.ts";

/** What a placement profile is built from. */
export interface PlacementRecord {
  xcr0: bigint;
  components: ComponentPlacement[];
  vendor: Vendor | "unknown";
  /** How the placement was obtained; `none`: no XSAVE at all. */
  source: "layout-note" | "vendor-table" | "none";
}

export interface ComponentPlacement {
  bit: number;
  size: number;
  /** Standard-format offset. */
  offset: number;
}

/** The vendor table's placement of XCR0's extended components; undefined if one is not in it. */
export function vendorPlacement(vendor: Vendor, xcr0: bigint): ComponentPlacement[] | undefined {
  const out: ComponentPlacement[] = [];
  for (const b of bitsOf(xcr0)) {
    if (b < 2) continue;
    const e = VENDOR_OFFSETS[vendor][b];
    if (!e) return undefined;
    out.push({ bit: b, offset: e[0], size: e[1] });
  }
  return out;
}

/** Standard-format size of a placement (end of the component that ends last). */
export function placementSize(p: readonly ComponentPlacement[]): number {
  return p.reduce((m, c) => Math.max(m, c.offset + c.size), MIN_XSTATE_SIZE);
}

// CPUID feature bits implied by the components present (the gates of xsave_cpuid_features[]).
const LEAF1_ECX = { XSAVE: 26, OSXSAVE: 27, AVX: 28 };
const LEAF1_EDX = { FXSR: 24, SSE: 25, SSE2: 26 };

/** Builds a profile whose CPUID reproduces the placement under XCR0 (see the module comment). */
export function profileFromPlacement(name: string, x: PlacementRecord, notes: string[]): Profile {
  const leaves: CpuidLeaf[] = [];
  const vendor = x.vendor === "unknown" ? "" : x.vendor;
  const vb = new Uint8Array(12);
  for (let i = 0; i < vendor.length; i++) vb[i] = vendor.charCodeAt(i);
  const vdv = new DataView(vb.buffer);
  const xsave = x.source !== "none";
  const has = (b: number) => hasBit(x.xcr0, b);
  leaves.push({
    leaf: 0,
    subleaf: 0,
    eax: 0xd,
    ebx: vdv.getUint32(0, true),
    edx: vdv.getUint32(4, true),
    ecx: vdv.getUint32(8, true),
  });
  let ecx1 = 0;
  if (xsave) ecx1 |= (1 << LEAF1_ECX.XSAVE) | (1 << LEAF1_ECX.OSXSAVE);
  if (has(XFEATURE.YMM)) ecx1 |= 1 << LEAF1_ECX.AVX;
  const edx1 = (1 << LEAF1_EDX.FXSR) | (1 << LEAF1_EDX.SSE) | (1 << LEAF1_EDX.SSE2);
  leaves.push({ leaf: 1, subleaf: 0, eax: 0, ebx: 0, ecx: ecx1 >>> 0, edx: edx1 >>> 0 });
  let ebx7 = 0;
  let ecx7 = 0;
  let edx7 = 0;
  if (has(XFEATURE.BNDREGS) || has(XFEATURE.BNDCSR)) ebx7 |= 1 << 14;
  if (has(XFEATURE.OPMASK) || has(XFEATURE.ZMM_Hi256) || has(XFEATURE.Hi16_ZMM)) ebx7 |= 1 << 16;
  if (has(XFEATURE.PKRU)) ecx7 |= (1 << 3) | (1 << 4);
  if (has(XFEATURE.XTILECFG) || has(XFEATURE.XTILEDATA)) edx7 |= 1 << 24;
  const apx = has(XFEATURE.APX);
  leaves.push({ leaf: 7, subleaf: 0, eax: apx ? 1 : 0, ebx: ebx7 >>> 0, ecx: ecx7 >>> 0, edx: edx7 >>> 0 });
  if (apx) leaves.push({ leaf: 7, subleaf: 1, eax: 0, ebx: 0, ecx: 0, edx: 1 << 21 });
  if (xsave) {
    const size = placementSize(x.components);
    leaves.push({
      leaf: 0xd,
      subleaf: 0,
      eax: Number(x.xcr0 & 0xffffffffn) >>> 0,
      edx: Number((x.xcr0 >> 32n) & 0xffffffffn) >>> 0,
      ebx: size,
      ecx: size,
    });
    // XFD is implied by AMX (Linux clears the tile components without it).
    const xfd = has(XFEATURE.XTILEDATA) ? 1 << 4 : 0;
    leaves.push({ leaf: 0xd, subleaf: 1, eax: xfd, ebx: 0, ecx: 0, edx: 0 });
    for (const c of x.components) {
      const ecx = c.bit === XFEATURE.XTILEDATA ? 6 : c.bit === XFEATURE.XTILECFG ? 2 : 0;
      leaves.push({ leaf: 0xd, subleaf: c.bit, eax: c.size, ebx: c.offset, ecx, edx: 0 });
    }
  }
  leaves.push({ leaf: 0x80000000, subleaf: 0, eax: 0x80000000, ebx: 0, ecx: 0, edx: 0 });
  const p: Profile = {
    name,
    source: { kind: "elf-core", path: name },
    vendor: x.vendor,
    family: 0,
    model: 0,
    stepping: 0,
    cpuid: new Cpuid(leaves),
    xcr0: x.xcr0,
    cpuidReconstructed: "a core records no CPUID; leaves 0, 1, 7 and 0xD are rebuilt from its XSAVE notes",
    notes: [...notes],
  };
  return p;
}

/**
 * Whether AT_MINSIGSTKSZ is what a kernel with this max_size computes. sizeof(rt_sigframe) is 440
 * (x86-64 only) and sizeof(sigframe_ia32) 732 (ia32 emulation, the usual distribution kernel,
 * which also adds the 112-byte fsave header); with 15 + 4 + 63 bytes of padding and magic2 and the
 * round-up to 16 the overhead is 522..537 or 926..941. v6.18 measured 944, so the ranges are
 * widened by a margin that still keeps them far apart from a 256-byte layout difference.
 */
export function minSigStkSzFits(atMinSigStkSz: number, maxSize: number): boolean {
  const k = atMinSigStkSz - maxSize;
  return (k >= 516 && k <= 580) || (k >= 916 && k <= 990);
}
