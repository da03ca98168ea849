/**
 * MXCSR and MXCSR_MASK: which MXCSR bits a CPU accepts. FXRSTOR, and XRSTOR when it loads MXCSR,
 * raise #GP for a value with bits outside the mask, so sigreturn of such a frame is SIGSEGV.
 *
 * The mask is what FXSAVE stores at offset 28 of the legacy region. When FXSAVE stores 0 the
 * kernel uses 0xffbf (Intel SDM vol. 1 §11.6.6; arch/x86/kernel/fpu/init.c mxcsr_feature_mask).
 * Every x86-64 CPU reports a non-zero mask in practice: 0xffff (DAZ, bit 6, supported since the
 * SSE2 generation), and AMD CPUs with misaligned-SSE mode (CPUID 0x80000001 ECX bit 7,
 * MisAlignSse) add MM, bit 17: 0x2ffff.
 */
import type { Cpuid } from "./cpuid/cpuid.ts";
import type { Profile } from "./profile.ts";

/** MXCSR after reset / FNINIT-style init: all exceptions masked, round to nearest. */
export const MXCSR_INIT = 0x1f80;
/** Denormals-are-zero: the MXCSR bit the earliest SSE CPUs lack. */
export const MXCSR_DAZ = 0x40;
/** Misaligned exception mask (AMD, with MisAlignSse). */
export const MXCSR_MM = 0x20000;
/** The mask the kernel uses when FXSAVE reports 0 (no DAZ). */
export const MXCSR_MASK_FXSAVE_ZERO = 0xffbf;
/** The architectural mask of an SSE2-era CPU: every bit of the low half, DAZ included. */
export const MXCSR_MASK_SSE2 = 0xffff;

export interface MxcsrMask {
  /** The mask the CPU applies (never 0). */
  value: number;
  /** Not measured: derived from CPUID, or assumed without it. */
  estimated: boolean;
  /** Where the value comes from, for messages. */
  basis: string;
}

/** The mask the kernel applies for a raw FXSAVE value (0 → 0xffbf). */
export function effectiveMxcsrMask(raw: number): number {
  return raw >>> 0 || MXCSR_MASK_FXSAVE_ZERO;
}

/** A measured mask (what FXSAVE stored on the machine). */
export function measuredMxcsrMask(raw: number): MxcsrMask {
  const value = effectiveMxcsrMask(raw);
  return {
    value,
    estimated: false,
    basis: raw >>> 0 ? "measured" : "measured: FXSAVE reports 0, the kernel uses 0xffbf",
  };
}

/** The mask assumed without CPUID: an x86-64 CPU with DAZ. */
export const ASSUMED_MXCSR_MASK: MxcsrMask = Object.freeze({
  value: MXCSR_MASK_SSE2,
  estimated: true,
  basis: "assumed for an x86-64 CPU (DAZ supported)",
});

/**
 * The mask a CPU reports, estimated from its CPUID: SSE2 → 0xffff (DAZ), plus MM (0x20000) on AMD
 * CPUs with MisAlignSse; a CPU without SSE2 → 0xffbf.
 */
export function estimatedMxcsrMask(cpuid: Cpuid, vendor = cpuid.vendor()): MxcsrMask {
  if (!cpuid.has("SSE2")) {
    return {
      value: MXCSR_MASK_FXSAVE_ZERO,
      estimated: true,
      basis: "estimated from CPUID (no SSE2: no DAZ)",
    };
  }
  const amd = vendor === "AuthenticAMD" || vendor === "HygonGenuine";
  if (amd && cpuid.has("MISALIGNSSE")) {
    return {
      value: MXCSR_MASK_SSE2 | MXCSR_MM,
      estimated: true,
      basis: "estimated from CPUID (SSE2: DAZ; MisAlignSse: MM)",
    };
  }
  return { value: MXCSR_MASK_SSE2, estimated: true, basis: "estimated from CPUID (SSE2: DAZ)" };
}

/** A host's MXCSR_MASK: measured where the profile records it, else estimated from its CPUID. */
export function mxcsrMaskOf(p: Profile): MxcsrMask {
  const raw = p.mxcsrMask ?? p.observed?.mxcsrMask;
  if (raw !== undefined) return measuredMxcsrMask(raw);
  return estimatedMxcsrMask(p.cpuid, p.vendor);
}

/** A mask given as a raw measured value or as a resolved one; absent → assumed. */
export type MxcsrMaskInput = number | MxcsrMask;

export function resolveMxcsrMask(m: MxcsrMaskInput | undefined): MxcsrMask {
  if (m === undefined) return ASSUMED_MXCSR_MASK;
  return typeof m === "number" ? measuredMxcsrMask(m) : m;
}
