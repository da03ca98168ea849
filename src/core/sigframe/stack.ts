/**
 * How much stack a signal frame takes, and the sizes the kernel derives from it: AT_MINSIGSTKSZ,
 * the sigaltstack() check of tasks that may use AMX, the ARCH_REQ_XCOMP_PERM check of existing
 * sigaltstacks, and where a frame lands on a given alternate stack.
 *
 * Modelled on arch/x86/kernel/signal.c (v6.18): get_sigframe(), init_sigframe_size(),
 * sigaltstack_size_valid(); arch/x86/kernel/fpu/signal.c fpu__get_fpstate_size(),
 * fpu__alloc_mathframe(); arch/x86/kernel/fpu/xstate.c validate_sigaltstack(); kernel/signal.c
 * do_sigaltstack() (MINSIGSTKSZ 2048, -ENOMEM). Measured on a Sapphire Rapids class host with AMX
 * (AT_MINSIGSTKSZ 11952) and on AMD Zen 5 (3376).
 */
import { fpstateForSp, frameForFpstate } from "../scan/geometry.ts";
import { FP_XSTATE_MAGIC2_SIZE } from "../xsave/components.ts";
import type { XsaveLayout } from "../xsave/layout.ts";
import { RT_SIGFRAME_SIZE } from "./fields.ts";
import { FSAVE_SIZE } from "./ia32.ts";

/**
 * sizeof(struct sigframe_ia32): 732 bytes of fields, 736 with the 8-byte alignment that
 * _fpx_sw_bytes' u64 gives struct _fpstate_32. MAX_FRAME_SIGINFO_UCTXT_SIZE with
 * CONFIG_IA32_EMULATION (every distribution kernel); sizeof(struct rt_sigframe), 440, without.
 */
export const SIGFRAME_IA32_SIZEOF = 736;
/** FRAME_ALIGNMENT - 1 and MAX_XSAVE_PADDING. */
const MAX_FRAME_PADDING = 15;
const MAX_XSAVE_PADDING = 63;
/** include/uapi/asm-generic/signal.h: the smallest sigaltstack() accepts, and the legacy constants. */
export const MINSIGSTKSZ = 2048;
export const SIGSTKSZ = 8192;

export interface KernelConfig {
  /** CONFIG_IA32_EMULATION (default true: Debian, Fedora, RHEL, Ubuntu kernels have it). */
  ia32Emulation?: boolean;
}

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/**
 * fpu__get_fpstate_size(): fpu_user_cfg.max_size (dynamic features included) + magic2, plus the
 * 112-byte FSAVE header that 32-bit frames may need ("assume the worst case").
 */
export function maxFpstateSize(host: XsaveLayout, cfg: KernelConfig = {}): number {
  let n = host.xsave ? host.maxUserSize + FP_XSTATE_MAGIC2_SIZE : host.maxUserSize;
  if (cfg.ia32Emulation !== false) n += FSAVE_SIZE;
  return n;
}

/** init_sigframe_size() / get_sigframe_size(): what the kernel exports as AT_MINSIGSTKSZ. */
export function minSigStkSz(host: XsaveLayout, cfg: KernelConfig = {}): number {
  const head = cfg.ia32Emulation === false ? RT_SIGFRAME_SIZE : SIGFRAME_IA32_SIZEOF;
  return roundUp(head + MAX_FRAME_PADDING + maxFpstateSize(host, cfg) + MAX_XSAVE_PADDING, 16);
}

/**
 * validate_sigaltstack(usize) in ARCH_REQ_XCOMP_PERM: every thread's sigaltstack must be at least
 * get_sigframe_size() - fpu_user_cfg.max_size + usize bytes, else -ENOSPC. `usize` is the user
 * size with the requested features (AMX: the host's max_size, so the bound is AT_MINSIGSTKSZ).
 */
export function permissionAltstackMinimum(host: XsaveLayout, usize: number, cfg: KernelConfig = {}): number {
  return minSigStkSz(host, cfg) - host.maxUserSize + usize;
}

/**
 * sigaltstack_size_valid() on a host with dynamic features (AMX) for a process that has their
 * permission: the size must exceed max_frame_size - fpu_default_state_size + the permitted
 * user size, else -ENOMEM. Returns the smallest size accepted. Processes without the permission
 * are not checked (unless strict_sas_size), beyond MINSIGSTKSZ.
 */
export function sigaltstackMinimum(
  host: XsaveLayout,
  permittedUserSize: number,
  cfg: KernelConfig = {},
): number {
  return minSigStkSz(host, cfg) - maxFpstateSize(host, cfg) + permittedUserSize + 1;
}

/** The outcome of a sigaltstack() call (kernel/signal.c do_sigaltstack()). */
export function sigaltstackCall(
  host: XsaveLayout,
  size: number,
  permittedUserSize: number | undefined,
  cfg: KernelConfig = {},
): "ok" | "ENOMEM" {
  if (size < MINSIGSTKSZ) return "ENOMEM";
  if (permittedUserSize !== undefined && size < sigaltstackMinimum(host, permittedUserSize, cfg))
    return "ENOMEM";
  return "ok";
}

/**
 * Bytes a 64-bit rt_sigframe takes below `top` (the altstack top, or the interrupted rsp - 128):
 * fpstate = round_down(top - extended_size, 64), frame = round_down(fpstate - 440, 16) - 8. The
 * handler starts with rsp at the frame.
 */
export function frameStackBytes(extendedSize: number, top: bigint): number {
  return Number(top - frameForFpstate(fpstateForSp(top, extendedSize)));
}

/** The most a 64-bit frame can take: every alignment at its worst. */
export function maxFrameStackBytes(extendedSize: number): number {
  return extendedSize + 63 + RT_SIGFRAME_SIZE + 15 + 8;
}

/**
 * Whether a signal delivered onto the alternate stack [sp, sp+size) fits: get_sigframe() needs the
 * final frame address strictly above ss_sp (__on_sig_stack()), else "overflowed sigaltstack" and
 * SIGSEGV. `room` is what the handler has left below the frame (negative: the overflow).
 */
export function altstackDelivery(
  sp: bigint,
  size: bigint,
  extendedSize: number,
): { fits: boolean; frameBytes: number; room: number } {
  const frameBytes = frameStackBytes(extendedSize, sp + size);
  const room = Number(size) - frameBytes;
  return { fits: room > 0, frameBytes, room };
}
