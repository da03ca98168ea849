/**
 * Byte layouts of the x86-64 signal frame, one table per structure: the single source of truth
 * for the decoder, the encoder, the hexdump annotation and the register names of STATE.json.
 *
 * Sources: arch/x86/include/uapi/asm/sigcontext.h (struct sigcontext, _fpstate_64,
 * _fpx_sw_bytes, _header), arch/x86/include/asm/sigframe.h (struct rt_sigframe),
 * include/uapi/asm-generic/ucontext.h, arch/x86/include/asm/fpu/types.h (xstate components).
 */

/** [name, offset, size]: one little-endian unsigned field. */
export type FieldDef = readonly [name: string, offset: number, size: number];
export type FieldTable = readonly FieldDef[];

function seq(
  prefix: string,
  count: number,
  start: number,
  stride: number,
  size: number,
  first = 0,
): FieldDef[] {
  const out: FieldDef[] = [];
  for (let i = 0; i < count; i++) out.push([`${prefix}${first + i}`, start + i * stride, size]);
  return out;
}

/** struct sigcontext (uc_mcontext), offsets within it; user-space UAPI names. 256 bytes. */
export const SIGCONTEXT_FIELDS = [
  ...seq("r", 8, 0, 8, 8, 8),
  ["rdi", 64, 8],
  ["rsi", 72, 8],
  ["rbp", 80, 8],
  ["rbx", 88, 8],
  ["rdx", 96, 8],
  ["rax", 104, 8],
  ["rcx", 112, 8],
  ["rsp", 120, 8],
  ["rip", 128, 8],
  ["eflags", 136, 8],
  ["cs", 144, 2],
  ["gs", 146, 2],
  ["fs", 148, 2],
  ["ss", 150, 2],
  ["err", 152, 8],
  ["trapno", 160, 8],
  ["oldmask", 168, 8],
  ["cr2", 176, 8],
  ["fpstate", 184, 8],
  ...seq("reserved1_", 8, 192, 8, 8),
] as const satisfies FieldTable;
export const SIGCONTEXT_SIZE = 256;

/** struct ucontext up to uc_sigmask, offsets within it (uc_mcontext at 40). */
export const UCONTEXT_HEAD_FIELDS = [
  ["uc_flags", 0, 8],
  ["uc_link", 8, 8],
  ["ss_sp", 16, 8],
  ["ss_flags", 24, 4],
  ["ss_size", 32, 8],
] as const satisfies FieldTable;
export const UC_MCONTEXT_OFFSET = 40;
export const UC_SIGMASK_OFFSET = 296;
export const UCONTEXT_SIZE = 304;

/** struct rt_sigframe (x86-64): pretcode, uc at 8, info at 312; 440 bytes. */
export const RT_SIGFRAME_UC_OFFSET = 8;
export const RT_SIGFRAME_INFO_OFFSET = 312;
export const SIGINFO_SIZE = 128;
export const RT_SIGFRAME_SIZE = 440;
/** siginfo_t head: si_signo, si_errno, si_code, then the 112-byte union at 16 (8-byte aligned). */
export const SIGINFO_FIELDS = [
  ["si_signo", 0, 4],
  ["si_errno", 4, 4],
  ["si_code", 8, 4],
  ["sifields", 16, 112],
] as const satisfies FieldTable;
/**
 * Where the kernel puts the fpstate relative to the frame: buf_fx is 64-byte aligned and
 * get_sigframe() places the frame at round_down(buf_fx - 440, 16) - 8 = buf_fx - 456
 * (arch/x86/kernel/signal.c get_sigframe(), align_sigframe()); probe: fpstate - uc = 448.
 */
export const KERNEL_FPSTATE_OFFSET = 456;

/** uc_flags bits (arch/x86/include/uapi/asm/ucontext.h). */
export const UC_FP_XSTATE = 0x1n;
export const UC_SIGCONTEXT_SS = 0x2n;
export const UC_STRICT_RESTORE_SS = 0x4n;

/** The 64-bit FXSAVE legacy region (bytes 0..415), struct fxregs_state / _fpstate_64. */
export const LEGACY_FIELDS = [
  ["fcw", 0, 2],
  ["fsw", 2, 2],
  ["ftw", 4, 2],
  ["fop", 6, 2],
  ["fip", 8, 8],
  ["fdp", 16, 8],
  ["mxcsr", 24, 4],
  ["mxcsr_mask", 28, 4],
  ...seq("st", 8, 32, 16, 10),
  ...seq("xmm", 16, 160, 16, 16),
] as const satisfies FieldTable;

/** struct _fpx_sw_bytes at fpstate + 464. */
export const SW_BYTES_FIELDS = [
  ["magic1", 0, 4],
  ["extended_size", 4, 4],
  ["xfeatures", 8, 8],
  ["xstate_size", 16, 4],
  ...seq("padding", 7, 20, 4, 4),
] as const satisfies FieldTable;

/** struct xstate_header at fpstate + 512. */
export const HEADER_FIELDS = [
  ["xstate_bv", 0, 8],
  ["xcomp_bv", 8, 8],
  ...seq("reserved", 6, 16, 8, 8),
] as const satisfies FieldTable;

/** Registers inside each extended component, offsets within the component. */
export const COMPONENT_FIELDS: Readonly<Record<number, FieldTable>> = {
  2: seq("ymmh", 16, 0, 16, 16),
  3: seq("bnd", 4, 0, 16, 16),
  4: [
    ["bndcfgu", 0, 8],
    ["bndstatus", 8, 8],
  ],
  5: seq("k", 8, 0, 8, 8),
  6: seq("zmmh", 16, 0, 32, 32),
  7: seq("zmm", 16, 0, 64, 64, 16),
  9: [["pkru", 0, 4]],
  17: [["palette", 0, 1], ["start_row", 1, 1], ...seq("colsb", 16, 16, 2, 2), ...seq("rows", 16, 48, 1, 1)],
  18: seq("tmm", 8, 0, 1024, 1024),
  19: seq("r", 16, 0, 8, 8, 16),
};

/** Fields of a component: its table, or one `data` field for components without one. */
export function componentFields(bit: number, size: number): FieldTable {
  const table = COMPONENT_FIELDS[bit];
  if (!table) return [["data", 0, size]];
  // A CPU (or a dump) that gives the component fewer bytes than its registers take: the
  // registers that fit (CPUID sizes are taken as the CPU states them, like the kernel does).
  return table.every(([, off, n]) => off + n <= size) ? table : table.filter(([, off, n]) => off + n <= size);
}

/** What each named field means, for `inspect`. */
export const FIELD_HELP: Readonly<Record<string, string>> = {
  pretcode: "return address of the handler: sa_restorer, which calls rt_sigreturn",
  uc_flags:
    "UC_FP_XSTATE (1) | UC_SIGCONTEXT_SS (2) | UC_STRICT_RESTORE_SS (4); sigreturn reads only the SS bits",
  uc_link: "unused by Linux (0)",
  ss_sp: "sigaltstack base (restored by restore_altstack())",
  ss_flags: "sigaltstack flags (SS_ONSTACK 1, SS_DISABLE 2, SS_AUTODISARM 1<<31)",
  ss_size: "sigaltstack size",
  eflags: "RFLAGS; sigreturn keeps only the user-modifiable bits (FIX_EFLAGS)",
  cs: "code segment (0x33 for 64-bit user code)",
  ss: "stack segment; valid if UC_SIGCONTEXT_SS, repaired unless UC_STRICT_RESTORE_SS",
  err: "error code of the exception that raised the signal",
  trapno: "exception vector that raised the signal",
  oldmask: "first word of the blocked mask (informational)",
  cr2: "faulting address for page faults",
  fpstate: "address of the FPU area; 0 = none: sigreturn resets the FPU to init",
  uc_sigmask: "signal mask restored by sigreturn",
  si_signo: "signal number",
  si_errno: "errno value (usually 0)",
  si_code: "origin: SI_USER 0, SI_KERNEL 0x80, SI_TKILL -6, or a fault-specific code",
  sifields: "the siginfo union (si_pid/si_uid, si_addr, … by signal)",
  fcw: "x87 control word (init 0x037f)",
  fsw: "x87 status word",
  ftw: "abridged x87 tag word: bit i set = ST(i) valid",
  fop: "last x87 opcode",
  fip: "last x87 instruction pointer",
  fdp: "last x87 data pointer",
  mxcsr: "SSE control/status (init 0x1f80); bits outside MXCSR_MASK make FXRSTOR/XRSTOR #GP",
  mxcsr_mask: "bits of MXCSR this CPU supports, as FXSAVE wrote them",
  magic1: "FP_XSTATE_MAGIC1 0x46505853 = an XSAVE frame; anything else = FXSAVE-only (legacy)",
  extended_size: "bytes of the whole FPU area including magic2 (user_size + 4 as written by the kernel)",
  xfeatures: "components the frame's layout carries (task user_xfeatures); RFBM = xfeatures ∩ task features",
  xstate_size: "XSAVE bytes before magic2 (the task's user_size); classic kernels look for magic2 here",
  xstate_bv: "XSTATE_BV: components whose bytes hold state; clear = init on XRSTOR",
  xcomp_bv: "XCOMP_BV: 0 = standard form; bit 63 = compacted form",
  magic2: "FP_XSTATE_MAGIC2 0x46505845 at fpstate + xstate_size",
};

/*
 * ia32 (32-bit task) frames: arch/x86/include/asm/sigframe.h (struct rt_sigframe_ia32,
 * struct sigframe_ia32), arch/x86/include/asm/ia32.h (struct ucontext_ia32),
 * arch/x86/include/uapi/asm/sigcontext.h (struct sigcontext_32), include/linux/compat.h
 * (compat_siginfo_t, compat_stack_t). Every field is 4-byte aligned; no padding anywhere.
 */

/** struct sigcontext_32 (88 bytes), i386 user-space names; fpstate is a u32 at 76. */
export const SIGCONTEXT_32_FIELDS = [
  ["gs", 0, 2],
  ["__gsh", 2, 2],
  ["fs", 4, 2],
  ["__fsh", 6, 2],
  ["es", 8, 2],
  ["__esh", 10, 2],
  ["ds", 12, 2],
  ["__dsh", 14, 2],
  ["edi", 16, 4],
  ["esi", 20, 4],
  ["ebp", 24, 4],
  ["esp", 28, 4],
  ["ebx", 32, 4],
  ["edx", 36, 4],
  ["ecx", 40, 4],
  ["eax", 44, 4],
  ["trapno", 48, 4],
  ["err", 52, 4],
  ["eip", 56, 4],
  ["cs", 60, 2],
  ["__csh", 62, 2],
  ["eflags", 64, 4],
  ["esp_at_signal", 68, 4],
  ["ss", 72, 2],
  ["__ssh", 74, 2],
  ["fpstate", 76, 4],
  ["oldmask", 80, 4],
  ["cr2", 84, 4],
] as const satisfies FieldTable;
export const SIGCONTEXT_32_SIZE = 88;

/** compat_siginfo_t (128 bytes): the union starts at 12 (4-byte aligned). */
export const COMPAT_SIGINFO_FIELDS = [
  ["si_signo", 0, 4],
  ["si_errno", 4, 4],
  ["si_code", 8, 4],
  ["sifields", 12, 116],
] as const satisfies FieldTable;
export const COMPAT_SIGINFO_SIZE = 128;

/** struct ucontext_ia32 up to uc_mcontext (compat_stack_t uc_stack at 8). */
export const UCONTEXT_IA32_HEAD_FIELDS = [
  ["uc_flags", 0, 4],
  ["uc_link", 4, 4],
  ["ss_sp", 8, 4],
  ["ss_flags", 12, 4],
  ["ss_size", 16, 4],
] as const satisfies FieldTable;
export const UC_IA32_MCONTEXT_OFFSET = 20;
/** compat_sigset_t uc_sigmask (8 bytes) after the 88-byte sigcontext. */
export const UC_IA32_SIGMASK_OFFSET = 108;
export const UCONTEXT_IA32_SIZE = 116;

/** struct rt_sigframe_ia32 (268 bytes): pretcode, sig, pinfo, puc, info, uc, retcode[8]. */
export const RT_SIGFRAME_IA32_HEAD_FIELDS = [
  ["pretcode", 0, 4],
  ["sig", 4, 4],
  ["pinfo", 8, 4],
  ["puc", 12, 4],
] as const satisfies FieldTable;
export const RT_SIGFRAME_IA32_INFO_OFFSET = 16;
export const RT_SIGFRAME_IA32_UC_OFFSET = 144;
export const RT_SIGFRAME_IA32_RETCODE_OFFSET = 260;
export const RT_SIGFRAME_IA32_SIZE = 268;

/**
 * struct sigframe_ia32 (732 bytes, the non-rt frame): pretcode, sig, sigcontext_32 at 8,
 * fpstate_unused (a 624-byte _fpstate_32 the kernel never writes) at 96, extramask at 720,
 * retcode[8] at 724.
 */
export const SIGFRAME_IA32_HEAD_FIELDS = [
  ["pretcode", 0, 4],
  ["sig", 4, 4],
] as const satisfies FieldTable;
export const SIGFRAME_IA32_SC_OFFSET = 8;
export const SIGFRAME_IA32_FPSTATE_UNUSED_OFFSET = 96;
export const SIGFRAME_IA32_EXTRAMASK_OFFSET = 720;
export const SIGFRAME_IA32_RETCODE_OFFSET = 724;
export const SIGFRAME_IA32_SIZE = 732;

/**
 * Where the kernel puts the FPU area (the FSAVE header) relative to an ia32 frame: the header is
 * at buf_fx - 112 with buf_fx 64-byte aligned, and get_sigframe() places the frame at
 * ((fpstate - size + 4) & -16) - 4 (arch/x86/kernel/signal.c, i386 ABI alignment): 276 above an
 * rt_sigframe_ia32, 740 above a sigframe_ia32.
 */
export const KERNEL_IA32_RT_FPSTATE_OFFSET = 276;
export const KERNEL_IA32_FPSTATE_OFFSET = 740;

/** __NR_ia32_rt_sigreturn and __NR_ia32_sigreturn (arch/x86/entry/syscalls/syscall_32.tbl). */
export const NR_IA32_RT_SIGRETURN = 173;
export const NR_IA32_SIGRETURN = 119;
/**
 * retcode[8] as ia32_setup_rt_frame() writes it: `movl $__NR_ia32_rt_sigreturn, %eax; int $0x80`
 * and a pad byte (b8 ad 00 00 00 cd 80 00), as a little-endian u64. Unused by the kernel; gdb
 * recognises signal frames by it.
 */
export const IA32_RT_RETCODE = 0x0080cd000000adb8n;
/** retcode of the non-rt frame: `popl %eax; movl $__NR_ia32_sigreturn, %eax; int $0x80`. */
export const IA32_RETCODE = 0x80cd00000077b858n;
