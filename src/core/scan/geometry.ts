/**
 * Where the kernel puts a 64-bit signal frame (arch/x86/kernel/signal.c get_sigframe(),
 * fpu__alloc_mathframe(), align_sigframe()), and the byte offsets the scanner reads.
 *
 *   sp  = interrupted rsp − 128 (red zone), or sas_ss_sp + sas_ss_size when switching to the altstack
 *   fpstate = round_down(sp − extended_size, 64)          (fpu__alloc_mathframe)
 *   frame   = round_down(fpstate − sizeof(rt_sigframe), 16) − 8   (align_sigframe, 64-bit)
 *
 * struct rt_sigframe { char *pretcode; struct ucontext uc; struct siginfo info; } is 440 bytes.
 */

export const RT_SIGFRAME_SIZE = 440;
/** Offsets inside struct rt_sigframe. */
export const FRAME = {
  pretcode: 0,
  uc: 8,
  ucFlags: 8,
  ucLink: 16,
  ucStackSp: 24,
  ucStackFlags: 32,
  ucStackSize: 40,
  mcontext: 48,
  /** uc_mcontext.fpstate */
  fpstatePtr: 232,
  ucSigmask: 304,
  siginfo: 312,
} as const;

/** Offsets inside struct sigcontext_64 (uc_mcontext), glibc REG_* order for the first 23. */
export const SIGCONTEXT_FIELDS = [
  "r8",
  "r9",
  "r10",
  "r11",
  "r12",
  "r13",
  "r14",
  "r15",
  "rdi",
  "rsi",
  "rbp",
  "rbx",
  "rdx",
  "rax",
  "rcx",
  "rsp",
  "rip",
  "eflags",
  "csgsfs",
  "err",
  "trapno",
  "oldmask",
  "cr2",
  "fpstate",
] as const;
export type SigcontextField = (typeof SIGCONTEXT_FIELDS)[number];

/** The 128-byte red zone below the interrupted rsp that delivery skips (not on altstack switch). */
export const RED_ZONE = 128;
/** Offsets inside the fpstate (XSAVE area). */
export const FP = {
  fcw: 0,
  fsw: 2,
  ftw: 4,
  mxcsr: 24,
  mxcsrMask: 28,
  swBytes: 464,
  magic1: 464,
  extendedSize: 468,
  xfeatures: 472,
  xstateSize: 480,
  swPadding: 484,
  xstateBv: 512,
  xcompBv: 520,
  hdrReserved: 528,
} as const;

export const MAGIC1 = 0x46505853;
export const MAGIC2 = 0x46505845;
/** The magic1 dword as it sits in memory: "SXPF". */
export const MAGIC1_BYTES = [0x53, 0x58, 0x50, 0x46] as const;
/** magic1 sits at fpstate + 464, fpstate is 64-byte aligned: magic1 addresses are 16 mod 64. */
export const MAGIC1_ALIGN_REMAINDER = 464 % 64;

/** x86-64 user segment selectors (__USER_CS, __USER_DS). */
export const USER_CS = 0x33;
export const USER_DS = 0x2b;
export const UC_FP_XSTATE = 0x1n;
export const UC_SIGCONTEXT_SS = 0x2n;
export const UC_STRICT_RESTORE_SS = 0x4n;
export const SS_ONSTACK = 1;
export const SS_DISABLE = 2;

/** The lowest non-canonical address: user addresses are below it (4-level paging; 5-level is 2^56). */
export const USER_ADDR_LIMIT_4L = 1n << 47n;
export const USER_ADDR_LIMIT_5L = 1n << 56n;

/** An upper bound for any plausible xstate_size (AMX tile data is 8 KiB; leave room for growth). */
export const MAX_XSTATE_SIZE = 64 * 1024;

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

export function signalName(n: number): string {
  if (SIGNAMES[n]) return SIGNAMES[n];
  if (n >= 34 && n <= 64) return n === 34 ? "SIGRTMIN" : `SIGRTMIN+${n - 34}`;
  return `signal ${n}`;
}
