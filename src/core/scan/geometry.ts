/**
 * Where the kernel puts a 64-bit signal frame (arch/x86/kernel/signal.c get_sigframe(),
 * fpu__alloc_mathframe(), align_sigframe()), and the byte offsets the scanner reads.
 *
 *   sp  = interrupted rsp − 128 (red zone), or sas_ss_sp + sas_ss_size when switching to the altstack
 *   fpstate = round_down(sp − extended_size, 64)          (fpu__alloc_mathframe)
 *   frame   = round_down(fpstate − sizeof(rt_sigframe), 16) − 8   (align_sigframe, 64-bit)
 *
 * struct rt_sigframe { char *pretcode; struct ucontext uc; struct siginfo info; } is 440 bytes.
 * Structure offsets come from the codec's field tables; what is here beyond them is the scanner's.
 */
import {
  SIGCONTEXT_FIELDS as CODEC_SIGCONTEXT_FIELDS,
  type FieldTable,
  HEADER_FIELDS,
  LEGACY_FIELDS,
  RT_SIGFRAME_INFO_OFFSET,
  RT_SIGFRAME_SIZE,
  RT_SIGFRAME_UC_OFFSET,
  SW_BYTES_FIELDS,
  UC_MCONTEXT_OFFSET,
  UC_SIGMASK_OFFSET,
  UCONTEXT_HEAD_FIELDS,
} from "../sigframe/fields.ts";
import {
  FP_XSTATE_MAGIC1,
  FP_XSTATE_MAGIC2,
  SW_BYTES_OFFSET,
  XSAVE_HDR_OFFSET,
} from "../xsave/components.ts";

export {
  RT_SIGFRAME_SIZE,
  UC_FP_XSTATE,
  UC_SIGCONTEXT_SS,
  UC_STRICT_RESTORE_SS,
} from "../sigframe/fields.ts";

/** Where field `name` of `table` sits. */
function at(table: FieldTable, name: string): number {
  const f = table.find(([n]) => n === name);
  if (!f) throw new Error(`no field ${name}`);
  return f[1];
}

const UC = RT_SIGFRAME_UC_OFFSET;
const MCONTEXT = UC + UC_MCONTEXT_OFFSET;

/** Offsets inside struct rt_sigframe. */
export const FRAME = {
  pretcode: 0,
  uc: UC,
  ucFlags: UC + at(UCONTEXT_HEAD_FIELDS, "uc_flags"),
  ucLink: UC + at(UCONTEXT_HEAD_FIELDS, "uc_link"),
  ucStackSp: UC + at(UCONTEXT_HEAD_FIELDS, "ss_sp"),
  ucStackFlags: UC + at(UCONTEXT_HEAD_FIELDS, "ss_flags"),
  ucStackSize: UC + at(UCONTEXT_HEAD_FIELDS, "ss_size"),
  mcontext: MCONTEXT,
  /** uc_mcontext.fpstate */
  fpstatePtr: MCONTEXT + at(CODEC_SIGCONTEXT_FIELDS, "fpstate"),
  ucSigmask: UC + UC_SIGMASK_OFFSET,
  siginfo: RT_SIGFRAME_INFO_OFFSET,
} as const;

/**
 * uc_mcontext read as 64-bit words up to and with fpstate, in glibc's REG_* order for the first
 * 23: the codec's sigcontext fields, with cs, gs, fs and ss as one word (REG_CSGSFS).
 */
export const SIGCONTEXT_FIELDS: readonly string[] = CODEC_SIGCONTEXT_FIELDS.filter(
  ([, off, size]) => off <= at(CODEC_SIGCONTEXT_FIELDS, "fpstate") && (size === 8 || off % 8 === 0),
).map(([name, , size]) => (size === 8 ? name : "csgsfs"));
export type SigcontextField = (typeof SIGCONTEXT_FIELDS)[number];

/** The 128-byte red zone below the interrupted rsp that delivery skips (not on altstack switch). */
export const RED_ZONE = 128;
/** Offsets inside the fpstate (XSAVE area). */
export const FP = {
  fcw: at(LEGACY_FIELDS, "fcw"),
  fsw: at(LEGACY_FIELDS, "fsw"),
  ftw: at(LEGACY_FIELDS, "ftw"),
  mxcsr: at(LEGACY_FIELDS, "mxcsr"),
  mxcsrMask: at(LEGACY_FIELDS, "mxcsr_mask"),
  swBytes: SW_BYTES_OFFSET,
  magic1: SW_BYTES_OFFSET + at(SW_BYTES_FIELDS, "magic1"),
  extendedSize: SW_BYTES_OFFSET + at(SW_BYTES_FIELDS, "extended_size"),
  xfeatures: SW_BYTES_OFFSET + at(SW_BYTES_FIELDS, "xfeatures"),
  xstateSize: SW_BYTES_OFFSET + at(SW_BYTES_FIELDS, "xstate_size"),
  swPadding: SW_BYTES_OFFSET + at(SW_BYTES_FIELDS, "padding0"),
  xstateBv: XSAVE_HDR_OFFSET + at(HEADER_FIELDS, "xstate_bv"),
  xcompBv: XSAVE_HDR_OFFSET + at(HEADER_FIELDS, "xcomp_bv"),
  hdrReserved: XSAVE_HDR_OFFSET + at(HEADER_FIELDS, "reserved0"),
} as const;

export const MAGIC1 = FP_XSTATE_MAGIC1;
export const MAGIC2 = FP_XSTATE_MAGIC2;
/** magic1 sits at fpstate + 464, fpstate is 64-byte aligned: magic1 addresses are 16 mod 64. */
export const MAGIC1_ALIGN_REMAINDER = FP.magic1 % 64;

/** x86-64 user segment selectors (__USER_CS, __USER_DS). */
export const USER_CS = 0x33;
export const USER_DS = 0x2b;
export const SS_ONSTACK = 1;
export const SS_DISABLE = 2;

/** The lowest non-canonical address under 5-level paging: user addresses are below it (2^47 with 4 levels). */
export const USER_ADDR_LIMIT_5L = 1n << 56n;

/** An upper bound for any plausible xstate_size (AMX tile data is 8 KiB; leave room for growth). */
export const MAX_XSTATE_SIZE = 64 * 1024;

/** How far past a found frame's fpstate its bytes are taken (the destination may read up to its own user_size). */
export const FRAME_BYTES_TAKEN = 64 * 1024;

export function roundDown(v: bigint, to: bigint): bigint {
  return v - (((v % to) + to) % to);
}

/** align_sigframe() on x86-64: round_down(sp, 16) − 8, so (rsp + 8) is 16-aligned at handler entry. */
export function alignSigframe(sp: bigint): bigint {
  return roundDown(sp, 16n) - 8n;
}

/** Where the kernel places the rt_sigframe for an fpstate it allocated at `fpstate`. */
export function frameForFpstate(fpstate: bigint): bigint {
  return alignSigframe(fpstate - BigInt(RT_SIGFRAME_SIZE));
}

/** fpu__alloc_mathframe(): the fpstate address for a stack pointer `sp` and an `extendedSize` area. */
export function fpstateForSp(sp: bigint, extendedSize: number): bigint {
  return roundDown(sp - BigInt(extendedSize), 64n);
}

/** The fpstate the kernel would choose for a signal that interrupted code at `rsp` (no altstack switch). */
export function fpstateForInterruptedRsp(rsp: bigint, extendedSize: number): bigint {
  return fpstateForSp(rsp - BigInt(RED_ZONE), extendedSize);
}

/** The fpstate for a delivery that switched to the altstack [ssSp, ssSp+ssSize). */
export function fpstateForAltstack(ssSp: bigint, ssSize: bigint, extendedSize: number): bigint {
  return fpstateForSp(ssSp + ssSize, extendedSize);
}

/** Signal names by number (x86-64 Linux). */
const SIGNAMES: Record<number, string> = {
  1: "SIGHUP",
  2: "SIGINT",
  3: "SIGQUIT",
  4: "SIGILL",
  5: "SIGTRAP",
  6: "SIGABRT",
  7: "SIGBUS",
  8: "SIGFPE",
  9: "SIGKILL",
  10: "SIGUSR1",
  11: "SIGSEGV",
  12: "SIGUSR2",
  13: "SIGPIPE",
  14: "SIGALRM",
  15: "SIGTERM",
  16: "SIGSTKFLT",
  17: "SIGCHLD",
  18: "SIGCONT",
  19: "SIGSTOP",
  20: "SIGTSTP",
  21: "SIGTTIN",
  22: "SIGTTOU",
  23: "SIGURG",
  24: "SIGXCPU",
  25: "SIGXFSZ",
  26: "SIGVTALRM",
  27: "SIGPROF",
  28: "SIGWINCH",
  29: "SIGIO",
  30: "SIGPWR",
  31: "SIGSYS",
};

/**
 * The signal a frame's siginfo states, or 0 where its si_signo is no signal number: the kernel
 * fills siginfo only for SA_SIGINFO handlers (arch/x86/kernel/signal_64.c), so the slot of a
 * signal() handler's frame holds whatever the stack held.
 */
export function siginfoSignal(signo: number): number {
  return signo >= 1 && signo <= 64 ? signo : 0;
}

/** The name of a signal number; 0: not recorded in the frame. */
export function signalName(n: number): string {
  if (n === 0) return "unknown";
  if (SIGNAMES[n]) return SIGNAMES[n];
  if (n >= 34 && n <= 64) return n === 34 ? "SIGRTMIN" : `SIGRTMIN+${n - 34}`;
  return `signal ${n}`;
}
