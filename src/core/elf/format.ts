/**
 * ELF64 little-endian x86-64 core files (ET_CORE): the format's constants, as the kernel
 * (fs/binfmt_elf.c, include/uapi/linux/elf.h) and gdb's `gcore` write them, the caps on lengths
 * taken from a file, and the one check of the ELF magic.
 *
 * Note layouts (x86-64, include/uapi/linux/elfcore.h, arch/x86/include/asm/user_64.h):
 * - NT_PRSTATUS (1, "CORE"): struct elf_prstatus, 336 bytes; pr_reg (user_regs_struct, 27 u64) at 112.
 * - NT_PRFPREG (2, "CORE"): struct user_i387_struct = the 512-byte FXSAVE image.
 * - NT_PRPSINFO (3, "CORE"): struct elf_prpsinfo, 136 bytes.
 * - NT_AUXV (6, "CORE"): (type, value) u64 pairs up to AT_NULL.
 * - NT_SIGINFO ("SIGI", "CORE"): the 128-byte siginfo_t of the signal that caused the dump.
 * - NT_FILE ("FILE", "CORE"): count, page size, count × (start, end, page offset), count names.
 * - NT_X86_XSTATE (0x202, "LINUX"): the XSAVE area in standard format, as PTRACE_GETREGSET
 *   returns it; bytes 464..471 hold XCR0 (the ptrace/core convention), not signal-frame sw_bytes.
 * - NT_X86_XSAVE_LAYOUT (0x205, "LINUX", Linux 6.11+): {type, size, offset, flags} u32 per
 *   extended component, so the XSTATE note can be read without the CPU's CPUID.
 * - NT_GDB_TDESC (0xff000000, "GDB"): gdb's XML target description (present in gcore output).
 */
import { MAX_XSAVE_SIZE } from "../xsave/limits.ts";

export const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46] as const;
export const ET_CORE = 4;
export const EM_X86_64 = 62;
export const PT_LOAD = 1;
export const PT_NOTE = 4;
export const PN_XNUM = 0xffff;
export const PF_X = 1;
export const PF_W = 2;
export const PF_R = 4;

export const NT = {
  PRSTATUS: 1,
  PRFPREG: 2,
  PRPSINFO: 3,
  TASKSTRUCT: 4,
  AUXV: 6,
  X86_XSTATE: 0x202,
  X86_SHSTK: 0x204,
  X86_XSAVE_LAYOUT: 0x205,
  GDB_TDESC: 0xff000000,
  SIGINFO: 0x53494749,
  FILE: 0x46494c45,
} as const;

export const AT = {
  NULL: 0,
  PAGESZ: 6,
  HWCAP: 16,
  PLATFORM: 15,
  HWCAP2: 26,
  /** Address of 16 random bytes the ELF loader puts on the initial process stack. */
  RANDOM: 25,
  /** Address of the executable's file name, also on the initial stack. */
  EXECFN: 31,
  MINSIGSTKSZ: 51,
} as const;

/** user_regs_struct (arch/x86/include/asm/user_64.h), in order. */
export const GPR_NAMES = [
  "r15",
  "r14",
  "r13",
  "r12",
  "rbp",
  "rbx",
  "r11",
  "r10",
  "r9",
  "r8",
  "rax",
  "rcx",
  "rdx",
  "rsi",
  "rdi",
  "orig_rax",
  "rip",
  "cs",
  "eflags",
  "rsp",
  "ss",
  "fs_base",
  "gs_base",
  "ds",
  "es",
  "fs",
  "gs",
] as const;
export type GprName = (typeof GPR_NAMES)[number];
export type UserRegs = Record<GprName, bigint>;

export const EHDR_SIZE = 64;
export const PHDR_SIZE = 56;
export const SHDR_SIZE = 64;
export const PRSTATUS_REGS_OFFSET = 112;
export const PRSTATUS_MIN_SIZE = PRSTATUS_REGS_OFFSET + GPR_NAMES.length * 8; // 328
export const PRPSINFO_SIZE = 136;
export const FXSAVE_SIZE = 512;
export const XSTATE_MIN_SIZE = 576;

/** Caps on lengths taken from the file (checked before anything is allocated). */
export const LIMITS = {
  /** Program headers: Linux caps a process at vm.max_map_count mappings (65530 by default). */
  maxProgramHeaders: 1 << 22,
  /** One PT_NOTE segment (NT_FILE of a process with many mappings is the largest note). */
  maxNoteSegment: 64 * 1024 * 1024,
  /** NT_X86_XSTATE and NT_X86_XSAVE_LAYOUT: no XSAVE area is larger (xsave/limits.ts). */
  maxXstate: MAX_XSAVE_SIZE,
  /** Notes in one core. */
  maxNotes: 1 << 22,
  /**
   * NT_FILE: Linux writes at most core_file_note_size_limit bytes of it, a sysctl capped at
   * CORE_FILE_NOTE_SIZE_MAX (fs/coredump.c, v6.11+; a fixed 4 MiB MAX_FILE_NOTE_SIZE before).
   */
  maxFileNote: 16 * 1024 * 1024,
  /** Bytes of a note's name or an NT_FILE path that are decoded (PATH_MAX; owners are a few bytes). */
  maxName: 4096,
};

/** The first bytes are the ELF magic `\x7fELF` (any ELF file: a core is told by its header). */
export function hasElfMagic(head: Uint8Array): boolean {
  return head.length >= ELF_MAGIC.length && ELF_MAGIC.every((b, i) => head[i] === b);
}

/** True when the bytes start like an ELF64 little-endian core file (enough for sniffing). */
export function looksLikeElfCore(bytes: Uint8Array): boolean {
  if (bytes.length < 18 || !hasElfMagic(bytes)) return false;
  return bytes[4] === 2 && bytes[5] === 1 && (bytes[16]! | (bytes[17]! << 8)) === ET_CORE;
}
