/** A set of raw CPUID results and the feature bits sigframe cares about. */
import { cString } from "../text.ts";

export interface CpuidLeaf {
  leaf: number;
  subleaf: number;
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
}

/** CPUID feature bits that gate XSAVE components or change frame handling. */
export const FEATURES = {
  FPU: { leaf: 1, subleaf: 0, reg: "edx", bit: 0 },
  FXSR: { leaf: 1, subleaf: 0, reg: "edx", bit: 24 },
  SSE: { leaf: 1, subleaf: 0, reg: "edx", bit: 25 },
  SSE2: { leaf: 1, subleaf: 0, reg: "edx", bit: 26 },
  XSAVE: { leaf: 1, subleaf: 0, reg: "ecx", bit: 26 },
  OSXSAVE: { leaf: 1, subleaf: 0, reg: "ecx", bit: 27 },
  AVX: { leaf: 1, subleaf: 0, reg: "ecx", bit: 28 },
  HYPERVISOR: { leaf: 1, subleaf: 0, reg: "ecx", bit: 31 },
  MPX: { leaf: 7, subleaf: 0, reg: "ebx", bit: 14 },
  AVX512F: { leaf: 7, subleaf: 0, reg: "ebx", bit: 16 },
  PKU: { leaf: 7, subleaf: 0, reg: "ecx", bit: 3 },
  OSPKE: { leaf: 7, subleaf: 0, reg: "ecx", bit: 4 },
  CET_SS: { leaf: 7, subleaf: 0, reg: "ecx", bit: 7 },
  ENQCMD: { leaf: 7, subleaf: 0, reg: "ecx", bit: 29 },
  AMX_BF16: { leaf: 7, subleaf: 0, reg: "edx", bit: 22 },
  AMX_TILE: { leaf: 7, subleaf: 0, reg: "edx", bit: 24 },
  AMX_INT8: { leaf: 7, subleaf: 0, reg: "edx", bit: 25 },
  APX_F: { leaf: 7, subleaf: 1, reg: "edx", bit: 21 },
  XSAVEOPT: { leaf: 0xd, subleaf: 1, reg: "eax", bit: 0 },
  XSAVEC: { leaf: 0xd, subleaf: 1, reg: "eax", bit: 1 },
  XGETBV1: { leaf: 0xd, subleaf: 1, reg: "eax", bit: 2 },
  XSAVES: { leaf: 0xd, subleaf: 1, reg: "eax", bit: 3 },
  XFD: { leaf: 0xd, subleaf: 1, reg: "eax", bit: 4 },
  MISALIGNSSE: { leaf: 0x80000001, subleaf: 0, reg: "ecx", bit: 7 },
  LWP: { leaf: 0x80000001, subleaf: 0, reg: "ecx", bit: 15 },
} as const satisfies Record<string, { leaf: number; subleaf: number; reg: Reg; bit: number }>;

/** CPUID.1.EAX from display family/model/stepping (the inverse of Cpuid.fms()). */
export function signatureOf(family: number, model: number, stepping: number): number {
  const baseFamily = Math.min(family, 0xf);
  const extFamily = family >= 0xf ? family - 0xf : 0;
  const extModel = family === 6 || family >= 0xf ? (model >> 4) & 0xf : 0;
  return (
    ((extFamily & 0xff) << 20) |
    (extModel << 16) |
    ((baseFamily & 0xf) << 8) |
    ((model & 0xf) << 4) |
    (stepping & 0xf)
  );
}

/**
 * CPUID leaves assembled register by register (a CPU reconstructed from what a log or an image
 * recorded): `leaf()` creates a leaf at zero on first use; `build()` gives them in order.
 */
export class LeafSet {
  private readonly map = new Map<string, CpuidLeaf>();
  leaf(l: number, s = 0): CpuidLeaf {
    const k = `${l}:${s}`;
    let v = this.map.get(k);
    if (!v) {
      v = { leaf: l, subleaf: s, eax: 0, ebx: 0, ecx: 0, edx: 0 };
      this.map.set(k, v);
    }
    return v;
  }
  /** Writes a brand string (47 ASCII characters at most) to 0x80000002..4, as `Cpuid.brand()` reads it. */
  setBrand(brand: string): void {
    const b = new Uint8Array(48);
    for (let i = 0; i < Math.min(47, brand.length); i++) b[i] = brand.charCodeAt(i) & 0x7f;
    const dv = new DataView(b.buffer);
    for (let i = 0; i < 3; i++) {
      const l = this.leaf(0x80000002 + i);
      l.eax = dv.getUint32(16 * i, true);
      l.ebx = dv.getUint32(16 * i + 4, true);
      l.ecx = dv.getUint32(16 * i + 8, true);
      l.edx = dv.getUint32(16 * i + 12, true);
    }
  }
  build(): Cpuid {
    return new Cpuid([...this.map.values()].sort((a, b) => a.leaf - b.leaf || a.subleaf - b.subleaf));
  }
}

export type Reg = "eax" | "ebx" | "ecx" | "edx";
export type FeatureName = keyof typeof FEATURES;

/** Leaves that take a sub-leaf in ECX (others ignore it, so sub-leaf 0 stands for all). */
const SUBLEAF_LEAVES = new Set([
  4, 7, 0xb, 0xd, 0xf, 0x10, 0x12, 0x14, 0x17, 0x18, 0x1d, 0x1e, 0x1f, 0x20, 0x23, 0x24, 0x8000001d,
  0x80000020, 0x80000026,
]);

export class Cpuid {
  readonly leaves: readonly CpuidLeaf[];
  private readonly map = new Map<string, CpuidLeaf>();

  constructor(leaves: readonly CpuidLeaf[]) {
    this.leaves = leaves;
    for (const l of leaves) {
      const k = `${l.leaf >>> 0}:${l.subleaf >>> 0}`;
      if (!this.map.has(k)) this.map.set(k, l);
    }
  }

  /** The leaf as recorded, or undefined where the dump lacks it. */
  get(leaf: number, subleaf = 0): CpuidLeaf | undefined {
    const exact = this.map.get(`${leaf >>> 0}:${subleaf >>> 0}`);
    if (exact || SUBLEAF_LEAVES.has(leaf >>> 0)) return exact;
    return this.map.get(`${leaf >>> 0}:0`);
  }

  /** Whether the leaf is within the range the CPU reports (CPUID.0.EAX / 0x80000000.EAX). */
  inRange(leaf: number): boolean {
    const ext = leaf >= 0x80000000;
    const max = this.get(ext ? 0x80000000 : 0)?.eax;
    if (max === undefined) return this.get(leaf) !== undefined;
    return leaf >>> 0 <= max >>> 0;
  }

  has(name: FeatureName): boolean {
    const f = FEATURES[name];
    if (!this.inRange(f.leaf)) return false;
    const l = this.get(f.leaf, f.subleaf);
    if (!l) return false;
    return ((l[f.reg] >>> f.bit) & 1) === 1;
  }

  vendor(): string {
    const l = this.get(0);
    if (!l) return "unknown";
    const b = new Uint8Array(12);
    const dv = new DataView(b.buffer);
    dv.setUint32(0, l.ebx, true);
    dv.setUint32(4, l.edx, true);
    dv.setUint32(8, l.ecx, true);
    return cString(b);
  }

  /** CPUID.1.EAX. */
  signature(): number {
    return (this.get(1)?.eax ?? 0) >>> 0;
  }

  /**
   * Family/model/stepping as Linux computes them (arch/x86/lib/cpu.c x86_family()/x86_model()):
   * the extended family counts for base family 0xf, the extended model for family 6 and above
   * (so Zhaoxin's family 7 KX-7000 is model 0x6b, as /proc/cpuinfo shows).
   */
  fms(): { family: number; model: number; stepping: number } {
    const eax = this.signature();
    const base = (eax >>> 8) & 0xf;
    const family = base === 0xf ? base + ((eax >>> 20) & 0xff) : base;
    const model = family >= 6 ? (((eax >>> 16) & 0xf) << 4) | ((eax >>> 4) & 0xf) : (eax >>> 4) & 0xf;
    return { family, model, stepping: eax & 0xf };
  }

  /** Brand string from 0x80000002..4, trimmed; undefined where absent. */
  brand(): string | undefined {
    if (!this.inRange(0x80000004)) return undefined;
    const b = new Uint8Array(48);
    const dv = new DataView(b.buffer);
    for (let i = 0; i < 3; i++) {
      const l = this.get(0x80000002 + i);
      if (!l) return undefined;
      dv.setUint32(i * 16, l.eax, true);
      dv.setUint32(i * 16 + 4, l.ebx, true);
      dv.setUint32(i * 16 + 8, l.ecx, true);
      dv.setUint32(i * 16 + 12, l.edx, true);
    }
    const s = cString(b).trim().replace(/\s+/g, " ");
    return s || undefined;
  }
}
