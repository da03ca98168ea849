/**
 * The public types of the sigreturn model: what a given kernel does with the FPU part of a
 * signal frame on rt_sigreturn (arch/x86/kernel/fpu/signal.c fpu__restore_sig() and callees).
 */
import type { XsaveLayout } from "../xsave/layout.ts";

/**
 * - `legacy`: before v5.14, check_for_xstate(): every check failure, faults included, falls back
 *   to FX-only; never SIGSEGV from the checks.
 * - `classic`: v5.14 … v6.14, v7.1-rc6 and later, stable trees with revert 44eeff9bc467:
 *   check_xstate_in_sigframe() with four size bounds, magic2 at `fpstate + sw.xstate_size`.
 * - `refined`: dc8aa31a7ac2 (v6.15 … v7.1-rc5): only magic1 checked, magic2 at
 *   `fpstate + task user_size`.
 */
export type Policy = "legacy" | "classic" | "refined";

export const POLICIES: readonly Policy[] = ["legacy", "classic", "refined"];

export interface PredictInput {
  /** Bytes from the fpstate address on (null = NULL fpstate pointer). */
  fpstate: Uint8Array | null;
  /** Where the fpstate sits (alignment); default: 64-byte aligned. */
  address?: bigint;
  /**
   * Bytes mapped from the fpstate on; default `fpstate.length`. Bytes past the input but within
   * this limit are read as zero.
   */
  readableBytes?: number;
  /** The receiving task: user_size, user_xfeatures, XCR0, standard offsets. */
  task: XsaveLayout;
  policy: Policy;
  /**
   * Receiving CPU's MXCSR_MASK as FXSAVE reports it (0 → 0xffbf, as the kernel does). Default
   * 0xffff, what every x86-64 CPU with DAZ reports; pass `mxcsrMaskOf(profile).value` to use a
   * measured mask or the CPUID estimate (0x2ffff on AMD with MisAlignSse).
   */
  mxcsrMask?: number;
  /**
   * Receiving CPU supports the compacted form (CPUID(0xD,1).EAX[1], XSAVEC); default true.
   * Without it, XRSTOR of a frame with XCOMP_BV[63] set raises #GP.
   */
  compactedForm?: boolean;
  /**
   * A 32-bit (ia32) task's frame on an FXSR CPU: `fpstate` starts at the 112-byte FSAVE header
   * (what the 32-bit sigcontext's fpstate points at) and the FXSAVE/XSAVE image, buf_fx, follows
   * at +112. The policy's check runs on buf_fx; the restore is the ia32 path of
   * __fpu_restore_sig() (copy_uabi_to_xstate(), x87 from the FSAVE header). `address` and
   * `compactedForm` do not matter there. Default false: a 64-bit frame.
   */
  ia32?: boolean;
}

export interface ComponentOutcome {
  bit: number;
  name: string;
  /** What the register holds after sigreturn: loaded from the frame bytes, or init. */
  result: "frame" | "init";
  /** Offset in the fpstate the state is read from, when `frame`. */
  offset?: number;
}

export type RestorePath = "xrstor" | "fxrstor-fallback" | "init" | "fault";

export interface Prediction {
  policy: Policy;
  path: RestorePath;
  /**
   * The signal that kills the task: on a failed sigreturn (path `fault`), or right after a
   * successful one that loaded a PKRU locking protection key 0 (reason `pkru-locks-key0`).
   */
  signal: null | "SIGSEGV";
  /** The signal's si_code: SI_KERNEL (128) from signal_fault(), SEGV_PKUERR (4) for PKRU. */
  siCode?: number;
  /** The PKRU value sigreturn loads from the frame, where it locks key 0. */
  pkru?: number;
  /** Stable code, e.g. "magic2-mismatch", "xstate-size-above-user-size", "xrstor-gp-xstate-bv". */
  reason: string;
  /** One sentence a kernel engineer would accept. */
  detail: string;
  /** Kernel source citation for the decisive rule. */
  source: string;
  /** Every user component the task has, ascending. */
  components: ComponentOutcome[];
  mxcsr: "frame" | "init";
  /**
   * Components the frame carried (XSTATE_BV set; x87/SSE always) that end up init, or every
   * carried component when the task gets SIGSEGV. A component whose XSTATE_BV bit is clear was
   * init in the frame and is never lost.
   */
  lost: string[];
  /** Further facts that do not change the outcome (reads past xstate_size, fault-in caveats). */
  notes: string[];
  /** Set for an ia32 frame (offsets are then from the FSAVE header); absent for 64-bit frames. */
  frame?: "ia32";
}
