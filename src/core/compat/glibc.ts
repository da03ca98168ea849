/**
 * glibc's lazy-binding XSAVE area, and what happens to it after a restore on another CPU.
 *
 * The first call through a PLT entry that is not bound yet enters _dl_runtime_resolve_xsave(c)
 * (sysdeps/x86_64/dl-trampoline.h), which saves the argument and vector registers on the stack in
 * an area of `xsave_state_size` bytes that ld.so computed from CPUID once, at start-up
 * (sysdeps/x86/cpu-features.c update_active(), glibc 2.26 … 2.42):
 *
 * - with XSAVEC (the default where CPUID(0xD,1).EAX[1] is set): the compacted size of
 *   STATE_SAVE_MASK (sysdeps/x86/sysdep.h: SSE, AVX, MPX BNDREGS, AVX-512, APX) over the
 *   components the CPU reports in CPUID(0xD,i), each 64-byte aligned where ECX[1] says so;
 * - with XSAVE (a CPU without XSAVEC, or GLIBC_TUNABLES=glibc.cpu.hwcaps=-XSAVEC): CPUID(0xD,0).EBX,
 *   the standard-format size of everything in XCR0 (AMX tile data included);
 *
 * plus STATE_SAVE_OFFSET (64 bytes of integer registers), rounded up to 64. The process carries
 * that number in ld.so's memory into the checkpoint. Restored on a CPU whose XSAVE(C) of the same
 * mask writes more, the trampoline writes past the area into the registers it saved next to it:
 * a crash at the first lazily bound call (CRIU issue 3120, eclipse-openj9 issue 24233).
 * GLIBC_TUNABLES=glibc.cpu.hwcaps=-XSAVEC,-XSAVE selects the fixed 512-byte FXSAVE trampoline,
 * except in glibc built for x86-64-v3 and up (GCCMACRO__AVX__), which never disables XSAVE.
 */
import { bit, hasBit } from "../hex.ts";
import { XFEATURE } from "../xsave/components.ts";
import { compactedLayout, standardSize, type XsaveLayout } from "../xsave/layout.ts";

/** STATE_SAVE_MASK (sysdeps/x86/sysdep.h, x86-64; APX since glibc 2.40). */
export const GLIBC_STATE_SAVE_MASK =
  bit(XFEATURE.SSE) |
  bit(XFEATURE.YMM) |
  bit(XFEATURE.BNDREGS) |
  bit(XFEATURE.OPMASK) |
  bit(XFEATURE.ZMM_Hi256) |
  bit(XFEATURE.Hi16_ZMM) |
  bit(XFEATURE.APX);

export type GlibcTrampoline = "xsavec" | "xsave";

export interface GlibcSaveArea {
  trampoline: GlibcTrampoline;
  /** The one glibc picks on A without tunables. */
  isDefault: boolean;
  /** Bytes of the area for the XSAVE(C) image, as glibc sized it on A. */
  reserved: number;
  /** Bytes the same instruction writes on B (the whole mask in use). */
  written: number;
  /** B has no XSAVEC: the instruction raises #UD there (SIGILL). */
  undefinedOnB?: boolean;
}

const roundUp64 = (n: number) => Math.ceil(n / 64) * 64;

/** The compacted size glibc computes: STATE_SAVE_MASK over the components CPUID reports. */
function glibcCompactedSize(l: XsaveLayout): number {
  const reported = l.components
    .filter((c) => c.bit >= 2 && c.size > 0 && !c.supervisor && hasBit(GLIBC_STATE_SAVE_MASK, c.bit))
    .reduce((m, c) => m | bit(c.bit), 0n);
  return compactedEnd(l, reported);
}

/** End of the compacted image of `mask` (legacy region and header, then each component). */
function compactedEnd(l: XsaveLayout, mask: bigint): number {
  let end = 576;
  const offs = compactedLayout(l, mask);
  for (const c of l.components) {
    const off = offs.get(c.bit);
    if (off !== undefined && c.bit >= 2 && hasBit(mask, c.bit)) end = Math.max(end, off + c.size);
  }
  return end;
}

/**
 * The trampolines' areas on A against what they write on B. The area is what glibc reserved past
 * STATE_SAVE_OFFSET: ALIGN_UP(size + 64, 64) - 64.
 */
export function glibcSaveAreas(from: XsaveLayout, to: XsaveLayout): GlibcSaveArea[] {
  if (!from.xsave || !to.xsave) return [];
  const mask = (l: XsaveLayout) => l.xcr0 & GLIBC_STATE_SAVE_MASK;
  const xsavecDefault = from.xsavec !== false;
  const out: GlibcSaveArea[] = [];
  if (from.xsavec !== false) {
    const a: GlibcSaveArea = {
      trampoline: "xsavec",
      isDefault: true,
      reserved: roundUp64(glibcCompactedSize(from)),
      // XSAVEC writes the compacted form of RFBM = mask ∩ XCR0.
      written: compactedEnd(to, mask(to)),
    };
    if (to.xsavec === false) a.undefinedOnB = true;
    out.push(a);
  }
  out.push({
    trampoline: "xsave",
    isDefault: !xsavecDefault,
    reserved: roundUp64(standardSize(from, from.xcr0)),
    written: standardSize(to, mask(to)),
  });
  return out;
}
