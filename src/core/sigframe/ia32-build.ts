/**
 * ia32 frames as the kernel writes them on delivery to a 32-bit task
 * (arch/x86/kernel/signal_32.c ia32_setup_rt_frame(), ia32_setup_frame();
 * arch/x86/kernel/fpu/signal.c copy_fpstate_to_sigframe() with an FSAVE header:
 * save_fsave_header(), save_sw_bytes(ia32_frame): extended_size = user_size + 4 + 112).
 *
 * The FSAVE header is convert_from_fxsr() of the FXSAVE image as a 64-bit kernel computes it
 * (arch/x86/kernel/fpu/regset.c): cwd/swd with the upper 16 bits set, the full tag word from
 * the abridged one and the register contents, fip/foo the low 32 bits of FIP/FDP, fcs the task's
 * CS (FOP is not kept), fos DS | 0xffff0000, st0–7 copied, status = FSW, magic 0 (FXSR data).
 */
import { bit, hasBit } from "../hex.ts";
import type { XsaveLayout } from "../xsave/layout.ts";
import { buildFpstate, DEFAULT_FXSAVE_MXCSR_MASK } from "./build.ts";
import {
  IA32_RETCODE,
  IA32_RT_RETCODE,
  RT_SIGFRAME_IA32_INFO_OFFSET,
  RT_SIGFRAME_IA32_UC_OFFSET,
  SIGCONTEXT_32_FIELDS,
  UC_FP_XSTATE,
} from "./fields.ts";
import type { Fpstate, LegacyRegisters } from "./fpstate.ts";
import {
  encodeIa32Fpstate,
  encodeIa32SigframeImage,
  FSAVE_SIZE,
  type FsaveHeader,
  type Ia32Fpstate,
  type Ia32FrameKind,
  type Ia32Sigframe,
  type Ia32SigframeImage,
  kernelIa32FpstateOffset,
  type Sigcontext32,
  X86_FXSR_MAGIC,
} from "./ia32.ts";
import { emptyState, type RegisterState } from "./state.ts";

/** Where buf_fx (FSAVE header + 112) goes when the caller gives no address: a 32-bit stack. */
export const DEFAULT_IA32_BUF_FX_ADDRESS = 0xffffc000n;

/** __USER32_CS and __USER_DS, the selectors of a 32-bit task on x86-64. */
export const USER32_CS = 0x23n;
export const USER32_DS = 0x2bn;

const TAG_VALID = 0n;
const TAG_ZERO = 1n;
const TAG_SPECIAL = 2n;
const TAG_EMPTY = 3n;

/** twd_fxsr_to_i387(): the FSAVE tag word (2 bits per physical register) from the FXSAVE image. */
export function fullTagWord(legacy: LegacyRegisters): bigint {
  const l = legacy as Record<string, bigint>;
  const tos = Number((l.fsw! >> 11n) & 7n);
  let out = 0xffff0000n;
  for (let i = 0; i < 8; i++) {
    let tag = TAG_EMPTY;
    if (hasBit(l.ftw!, i)) {
      const st = l[`st${(i - tos) & 7}`]!;
      const exponent = (st >> 64n) & 0x7fffn;
      const significand = st & 0xffffffffffffffffn;
      if (exponent === 0x7fffn) tag = TAG_SPECIAL;
      else if (exponent === 0n) tag = significand === 0n ? TAG_ZERO : TAG_SPECIAL;
      else tag = (significand >> 63n) & 1n ? TAG_VALID : TAG_SPECIAL;
    }
    out |= tag << BigInt(2 * i);
  }
  return out;
}

/** twd_i387_to_fxsr(): the abridged tag (bit i set unless register i is empty). */
export function abridgedTagWord(twd: bigint): bigint {
  let out = 0n;
  for (let i = 0; i < 8; i++) if (((twd >> BigInt(2 * i)) & 3n) !== TAG_EMPTY) out |= bit(i);
  return out;
}

/** The FSAVE header a 64-bit kernel writes for this FXSAVE image (save_fsave_header()). */
export function fsaveHeaderFrom(legacy: LegacyRegisters, cs = USER32_CS, ds = USER32_DS): FsaveHeader {
  const h: Record<string, bigint> = {
    cwd: (legacy.fcw & 0xffffn) | 0xffff0000n,
    swd: (legacy.fsw & 0xffffn) | 0xffff0000n,
    twd: fullTagWord(legacy),
    fip: legacy.fip & 0xffffffffn,
    fcs: cs & 0xffffffffn,
    foo: legacy.fdp & 0xffffffffn,
    fos: (ds & 0xffffn) | 0xffff0000n,
    status: legacy.fsw & 0xffffn,
    magic: BigInt(X86_FXSR_MAGIC),
  };
  const l = legacy as Record<string, bigint>;
  for (let i = 0; i < 8; i++) h[`st${i}`] = l[`st${i}`]! & ((1n << 80n) - 1n);
  return h as FsaveHeader;
}

/**
 * The x87 state convert_to_fxsr() takes from an FSAVE header on ia32 sigreturn (64-bit kernel):
 * FCW, FSW, the abridged tag, FOP from the upper half of fcs, FIP/FDP from fip/foo, st0–7.
 */
export function x87FromFsave(h: FsaveHeader): Record<string, bigint> {
  const out: Record<string, bigint> = {
    fcw: h.cwd & 0xffffn,
    fsw: h.swd & 0xffffn,
    ftw: abridgedTagWord(h.twd),
    fop: (h.fcs >> 16n) & 0xffffn,
    fip: h.fip,
    fdp: h.foo,
  };
  const r = h as Record<string, bigint>;
  for (let i = 0; i < 8; i++) out[`st${i}`] = r[`st${i}`]!;
  return out;
}

/** The ia32 FPU area the kernel writes: FSAVE header + kernel-style image, extended_size + 112. */
export function buildIa32Fpstate(
  layout: XsaveLayout,
  state: RegisterState = emptyState(),
  mxcsrMask = DEFAULT_FXSAVE_MXCSR_MASK,
  notes: string[] = [],
  cs = USER32_CS,
  ds = USER32_DS,
): Ia32Fpstate {
  const fx: Fpstate = buildFpstate(layout, state, "kernel", mxcsrMask, notes);
  fx.sw = { ...fx.sw, extendedSize: fx.sw.extendedSize + FSAVE_SIZE };
  return { size: FSAVE_SIZE + fx.size, fsave: fsaveHeaderFrom(fx.legacy, cs, ds), fx, extra: [] };
}

export interface BuildIa32Options {
  layout: XsaveLayout;
  state?: RegisterState;
  kind?: Ia32FrameKind;
  /** Address of the output's first byte; default puts buf_fx at a 64-byte boundary. */
  base?: bigint;
  mxcsrMask?: bigint;
  /** Only the FPU area (FSAVE header + image). */
  fpstateOnly?: boolean;
}

export interface BuildIa32Result {
  bytes: Uint8Array;
  fpstate: Ia32Fpstate;
  fpstateOffset: number;
  image?: Ia32SigframeImage;
  notes: string[];
}

/** An ia32 frame (or only its FPU area) as the kernel writes it on delivery. */
export function buildIa32Frame(opts: BuildIa32Options): BuildIa32Result {
  const state = opts.state ?? emptyState();
  const kind = opts.kind ?? "rt";
  const notes: string[] = [];
  const f = state.frame;
  const g = (k: string, d = 0n) => f[k] ?? d;
  const cs = g("cs", USER32_CS);
  const ds = g("ds", USER32_DS);
  const fp = buildIa32Fpstate(opts.layout, state, opts.mxcsrMask, notes, cs, ds);
  if (opts.fpstateOnly) {
    return { bytes: encodeIa32Fpstate(fp), fpstate: fp, fpstateOffset: 0, notes };
  }
  const fpOffset = kernelIa32FpstateOffset(kind);
  // buf_fx = fpstate + 112 is 64-byte aligned.
  const base = opts.base ?? DEFAULT_IA32_BUF_FX_ADDRESS - BigInt(FSAVE_SIZE + fpOffset);
  const fpAddr = base + BigInt(fpOffset);
  if ((fpAddr + BigInt(FSAVE_SIZE)) % 64n !== 0n)
    notes.push(
      `buf_fx (fpstate + 112) at 0x${(fpAddr + BigInt(FSAVE_SIZE)).toString(16)} is not 64-byte aligned as the kernel places it`,
    );
  const mc: Record<string, bigint> = {};
  for (const [n] of SIGCONTEXT_32_FIELDS) mc[n] = g(n);
  mc.cs = cs;
  mc.ds = ds;
  mc.es = g("es", USER32_DS);
  mc.ss = g("ss", USER32_DS);
  mc.eflags = g("eflags", 0x2n);
  mc.esp_at_signal = g("esp_at_signal", mc.esp!);
  mc.fpstate = fpAddr;
  const sigmask = g("uc_sigmask");
  mc.oldmask = g("oldmask", sigmask & 0xffffffffn);
  const frame: Ia32Sigframe = {
    kind,
    pretcode: g("pretcode"),
    sig: g("sig", g("si_signo")),
    mcontext: mc as Sigcontext32,
    retcode: kind === "rt" ? IA32_RT_RETCODE : IA32_RETCODE,
  };
  if (kind === "rt") {
    frame.pinfo = base + BigInt(RT_SIGFRAME_IA32_INFO_OFFSET);
    frame.puc = base + BigInt(RT_SIGFRAME_IA32_UC_OFFSET);
    frame.info = {
      si_signo: g("si_signo", frame.sig),
      si_errno: g("si_errno"),
      si_code: g("si_code"),
      sifields: g("sifields"),
    };
    frame.uc = {
      // ia32_setup_rt_frame(): UC_FP_XSTATE when the CPU has XSAVE, else 0 (no SS bits for ia32).
      uc_flags: g("uc_flags", opts.layout.xsave ? UC_FP_XSTATE : 0n),
      uc_link: g("uc_link"),
      ss_sp: g("ss_sp"),
      ss_flags: g("ss_flags"),
      ss_size: g("ss_size"),
    };
    frame.ucSigmask = sigmask;
  } else {
    frame.extramask = g("extramask", sigmask >> 32n);
  }
  const img: Ia32SigframeImage = {
    frame,
    base,
    baseSource: "given",
    size: fpOffset + fp.size,
    fpstate: fp,
    fpstateOffset: fpOffset,
    extra: [],
  };
  return { bytes: encodeIa32SigframeImage(img), fpstate: fp, fpstateOffset: fpOffset, image: img, notes };
}

/** Whether the FXSAVE image's x87 part says the same as the FSAVE header (sigreturn reads the header). */
export function x87Agrees(fp: Ia32Fpstate): boolean {
  if (!fp.fx) return true;
  const want = x87FromFsave(fp.fsave);
  const l = fp.fx.legacy as Record<string, bigint>;
  const same = (k: string, mask: bigint) => ((l[k] ?? 0n) & mask) === ((want[k] ?? 0n) & mask);
  if (!same("fcw", 0xffffn) || !same("fsw", 0xffffn) || !same("ftw", 0xffn)) return false;
  if (!same("fip", 0xffffffffn) || !same("fdp", 0xffffffffn)) return false;
  for (let i = 0; i < 8; i++) if (!same(`st${i}`, (1n << 80n) - 1n)) return false;
  return true;
}
