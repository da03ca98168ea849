/**
 * ELF64 little-endian x86-64 core files (ET_CORE), as the kernel (fs/binfmt_elf.c) and gdb's
 * `gcore` write them: the ELF header, the program headers, PT_LOAD segments (process memory by
 * virtual address) and the PT_NOTE notes, grouped into threads.
 *
 * Everything is read through a ByteSource, so a multi-GiB core is never held in memory: only the
 * headers and the note segments are read, and every length taken from the file is checked against
 * the file size and a fixed cap before anything is allocated.
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
 *
 * Each NT_PRSTATUS starts a thread; the thread-scoped notes after it (NT_PRFPREG, NT_X86_XSTATE,
 * NT_SIGINFO, …) belong to that thread. NT_PRPSINFO, NT_AUXV, NT_FILE, NT_X86_XSAVE_LAYOUT and
 * NT_GDB_TDESC describe the process.
 */
import { ByteView } from "../bytes.ts";
import { InvalidDataError, TruncatedInputError } from "../errors.ts";
import type { ByteSource } from "../source.ts";

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

const EHDR_SIZE = 64;
const PHDR_SIZE = 56;
const SHDR_SIZE = 64;
const PRSTATUS_REGS_OFFSET = 112;
const PRSTATUS_MIN_SIZE = PRSTATUS_REGS_OFFSET + GPR_NAMES.length * 8; // 328
const PRPSINFO_SIZE = 136;
const FXSAVE_SIZE = 512;
const XSTATE_MIN_SIZE = 576;

/** Caps on lengths taken from the file (checked before anything is allocated). */
export const LIMITS = {
  /** Program headers: Linux caps a process at vm.max_map_count mappings (65530 by default). */
  maxProgramHeaders: 1 << 22,
  /** One PT_NOTE segment (NT_FILE of a process with many mappings is the largest note). */
  maxNoteSegment: 64 * 1024 * 1024,
  /** NT_X86_XSTATE: the largest standard-format XSAVE area (AMX tile data included) is ~11 KiB. */
  maxXstate: 1024 * 1024,
  /** Notes in one core. */
  maxNotes: 1 << 22,
};

export interface ElfHeader {
  type: number;
  machine: number;
  version: number;
  entry: bigint;
  phoff: number;
  shoff: number;
  flags: number;
  ehsize: number;
  phentsize: number;
  /** Number of program headers (PN_XNUM resolved through section header 0). */
  phnum: number;
  shentsize: number;
  shnum: number;
  shstrndx: number;
}

export interface ProgramHeader {
  index: number;
  type: number;
  flags: number;
  /** File offset of the segment's bytes. */
  offset: number;
  vaddr: bigint;
  paddr: bigint;
  /** Bytes present in the file. */
  filesz: number;
  /** Bytes of memory the segment covers; the part past `filesz` is not in the core. */
  memsz: bigint;
  align: bigint;
}

export interface ElfNote {
  /** Position in the note stream (all PT_NOTE segments, in order). */
  index: number;
  /** Owner name without the trailing NUL ("CORE", "LINUX", "GDB"). */
  owner: string;
  type: number;
  /** Kernel name where known ("NT_PRSTATUS"), else `0x…`. */
  typeName: string;
  /** File offset of the note header. */
  offset: number;
  /** File offset of the descriptor. */
  descOffset: number;
  desc: Uint8Array;
}

export interface CoreSigInfo {
  signo: number;
  errno: number;
  code: number;
  /** si_pid / si_uid for kill-like codes (si_code ≤ 0), si_addr for faults. */
  pid?: number;
  uid?: number;
  addr?: bigint;
}

export interface CoreThread {
  /** 0-based position among the threads (the first is the one that dumped). */
  index: number;
  tid: number;
  ppid: number;
  pgrp: number;
  sid: number;
  /** pr_cursig: the signal being delivered (the one that caused the dump, for that thread). */
  signal: number;
  /** pr_info {si_signo, si_code, si_errno}. */
  info: { signo: number; code: number; errno: number };
  sigpend: bigint;
  sighold: bigint;
  /** pr_reg with every user_regs_struct register. */
  regs: UserRegs;
  fpvalid: number;
  /** NT_PRFPREG: the 512-byte FXSAVE image. */
  fpregs?: Uint8Array;
  /** NT_X86_XSTATE: the XSAVE area (bytes 464..471 = XCR0). */
  xstate?: Uint8Array;
  /** File offset of the xstate descriptor (for messages). */
  xstateOffset?: number;
  siginfo?: CoreSigInfo;
  /** Every note of this thread, NT_PRSTATUS first. */
  notes: ElfNote[];
}

export interface CorePsInfo {
  state: number;
  sname: string;
  zomb: number;
  nice: number;
  flag: bigint;
  uid: number;
  gid: number;
  pid: number;
  ppid: number;
  pgrp: number;
  sid: number;
  fname: string;
  psargs: string;
}

export interface CoreMappedFile {
  start: bigint;
  end: bigint;
  /** File offset in bytes (NT_FILE stores pages; multiplied by its page size). */
  fileOffset: bigint;
  name: string;
}

export interface XsaveLayoutEntry {
  /** XSAVE component number (XFEATURE_*). */
  type: number;
  size: number;
  offset: number;
  flags: number;
}

export interface ElfCore {
  source: ByteSource;
  header: ElfHeader;
  programHeaders: ProgramHeader[];
  notes: ElfNote[];
  threads: CoreThread[];
  psinfo?: CorePsInfo;
  auxv?: { type: number; value: bigint }[];
  files?: { pageSize: bigint; entries: CoreMappedFile[] };
  /** NT_X86_XSAVE_LAYOUT, where the kernel wrote one. */
  xsaveLayout?: XsaveLayoutEntry[];
  /** NT_GDB_TDESC present: the core was written by gdb (`gcore`). */
  writtenByGdb: boolean;
  /** Things that are odd but not fatal (clipped segments, unattached notes). */
  warnings: string[];
}

/** True when the bytes start like an ELF64 little-endian core file (enough for sniffing). */
export function looksLikeElfCore(bytes: Uint8Array): boolean {
  if (bytes.length < 18) return false;
  for (let i = 0; i < 4; i++) if (bytes[i] !== ELF_MAGIC[i]) return false;
  return bytes[4] === 2 && bytes[5] === 1 && (bytes[16]! | (bytes[17]! << 8)) === ET_CORE;
}

/** Reads [offset, offset+length) from the source, failing with the field path when it is short. */
function readAt(src: ByteSource, offset: number, length: number, path: string): ByteView {
  if (offset < 0 || length < 0 || offset + length > src.size) {
    throw new TruncatedInputError(
      `input ends at ${src.size} bytes; ${path} needs ${length} bytes at offset ${offset}`,
      { offset: Math.min(Math.max(offset, 0), Number.MAX_SAFE_INTEGER), path },
    );
  }
  // Copy: a source may reuse its buffer on the next read.
  return new ByteView(src.read(offset, length).slice(), offset);
}

/** A u64 file offset or size as a number; values beyond the file are reported as truncation. */
function fileNumber(v: bigint, src: ByteSource, at: number, path: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new TruncatedInputError(
      `${path} is 0x${v.toString(16)}, past the end of the input (${src.size} bytes)`,
      {
        offset: at,
        path,
      },
    );
  }
  return Number(v);
}

export function parseElfHeader(src: ByteSource): ElfHeader {
  const v = readAt(src, 0, Math.min(EHDR_SIZE, src.size), "ehdr");
  v.need(0, 16, "ehdr/e_ident");
  for (let i = 0; i < 4; i++) {
    if (v.bytes[i] !== ELF_MAGIC[i])
      throw new InvalidDataError("not an ELF file (bad magic)", { offset: 0, path: "ehdr/e_ident" });
  }
  const cls = v.u8(4, "ehdr/e_ident/EI_CLASS");
  if (cls !== 2)
    throw new InvalidDataError(`ELF class ${cls}: only ELF64 cores are supported`, {
      offset: 4,
      path: "ehdr/e_ident/EI_CLASS",
    });
  const data = v.u8(5, "ehdr/e_ident/EI_DATA");
  if (data !== 1)
    throw new InvalidDataError(`ELF data encoding ${data}: only little-endian cores are supported`, {
      offset: 5,
      path: "ehdr/e_ident/EI_DATA",
    });
  const type = v.u16(16, "ehdr/e_type");
  if (type !== ET_CORE)
    throw new InvalidDataError(`e_type is ${type}, not ET_CORE (4): not a core file`, {
      offset: 16,
      path: "ehdr/e_type",
    });
  const machine = v.u16(18, "ehdr/e_machine");
  if (machine !== EM_X86_64)
    throw new InvalidDataError(`e_machine is ${machine}, not EM_X86_64 (62)`, {
      offset: 18,
      path: "ehdr/e_machine",
    });
  v.need(0, EHDR_SIZE, "ehdr");
  const h: ElfHeader = {
    type,
    machine,
    version: v.u32(20, "ehdr/e_version"),
    entry: v.u64(24, "ehdr/e_entry"),
    phoff: fileNumber(v.u64(32, "ehdr/e_phoff"), src, 32, "ehdr/e_phoff"),
    shoff: fileNumber(v.u64(40, "ehdr/e_shoff"), src, 40, "ehdr/e_shoff"),
    flags: v.u32(48, "ehdr/e_flags"),
    ehsize: v.u16(52, "ehdr/e_ehsize"),
    phentsize: v.u16(54, "ehdr/e_phentsize"),
    phnum: v.u16(56, "ehdr/e_phnum"),
    shentsize: v.u16(58, "ehdr/e_shentsize"),
    shnum: v.u16(60, "ehdr/e_shnum"),
    shstrndx: v.u16(62, "ehdr/e_shstrndx"),
  };
  if (h.phnum === PN_XNUM) {
    // More than 0xfffe segments: the real count is sh_info of section header 0.
    if (h.shoff === 0)
      throw new InvalidDataError("e_phnum is PN_XNUM but there is no section header 0 to hold the count", {
        offset: 56,
        path: "ehdr/e_phnum",
      });
    const sh = readAt(src, h.shoff, SHDR_SIZE, "shdr[0]");
    h.phnum = sh.u32(44, "shdr[0]/sh_info");
  }
  if (h.phnum > 0 && h.phentsize < PHDR_SIZE)
    throw new InvalidDataError(
      `e_phentsize is ${h.phentsize}; an ELF64 program header is ${PHDR_SIZE} bytes`,
      {
        offset: 54,
        path: "ehdr/e_phentsize",
      },
    );
  if (h.phnum > LIMITS.maxProgramHeaders)
    throw new InvalidDataError(
      `${h.phnum} program headers: more than the ${LIMITS.maxProgramHeaders} supported`,
      {
        offset: 56,
        path: "ehdr/e_phnum",
      },
    );
  return h;
}

export function parseProgramHeaders(src: ByteSource, h: ElfHeader): ProgramHeader[] {
  const total = h.phnum * h.phentsize;
  if (h.phoff + total > src.size) {
    throw new TruncatedInputError(
      `input ends at ${src.size} bytes; the program header table needs ${total} bytes at offset ${h.phoff} (${h.phnum} × ${h.phentsize})`,
      { offset: h.phoff, path: "phdrs" },
    );
  }
  const out: ProgramHeader[] = [];
  const batch = 4096;
  for (let first = 0; first < h.phnum; first += batch) {
    const n = Math.min(batch, h.phnum - first);
    const v = readAt(src, h.phoff + first * h.phentsize, n * h.phentsize, "phdrs");
    for (let k = 0; k < n; k++) {
      const i = first + k;
      const o = k * h.phentsize;
      const at = h.phoff + o + first * h.phentsize;
      const p = `phdrs[${i}]`;
      const ph: ProgramHeader = {
        index: i,
        type: v.u32(o, `${p}/p_type`),
        flags: v.u32(o + 4, `${p}/p_flags`),
        offset: 0,
        vaddr: v.u64(o + 16, `${p}/p_vaddr`),
        paddr: v.u64(o + 24, `${p}/p_paddr`),
        filesz: 0,
        memsz: v.u64(o + 40, `${p}/p_memsz`),
        align: v.u64(o + 48, `${p}/p_align`),
      };
      const off = v.u64(o + 8, `${p}/p_offset`);
      const fsz = v.u64(o + 32, `${p}/p_filesz`);
      if (ph.type === PT_LOAD || ph.type === PT_NOTE) {
        ph.offset = fileNumber(off, src, at + 8, `${p}/p_offset`);
        ph.filesz = fileNumber(fsz, src, at + 32, `${p}/p_filesz`);
      } else {
        ph.offset = off > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(off);
        ph.filesz = fsz > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(fsz);
      }
      if (ph.type === PT_LOAD) {
        if (ph.vaddr + ph.memsz > 1n << 64n)
          throw new InvalidDataError(
            `segment [0x${ph.vaddr.toString(16)} + 0x${ph.memsz.toString(16)}) wraps past 2^64`,
            {
              offset: at + 40,
              path: `${p}/p_memsz`,
            },
          );
        if (BigInt(ph.filesz) > ph.memsz)
          throw new InvalidDataError(`p_filesz ${ph.filesz} is larger than p_memsz ${ph.memsz}`, {
            offset: at + 32,
            path: `${p}/p_filesz`,
          });
      }
      out.push(ph);
    }
  }
  return out;
}

const NOTE_NAMES: Record<string, string> = {
  "CORE:1": "NT_PRSTATUS",
  "CORE:2": "NT_PRFPREG",
  "CORE:3": "NT_PRPSINFO",
  "CORE:4": "NT_TASKSTRUCT",
  "CORE:6": "NT_AUXV",
  [`CORE:${NT.SIGINFO}`]: "NT_SIGINFO",
  [`CORE:${NT.FILE}`]: "NT_FILE",
  [`LINUX:${NT.X86_XSTATE}`]: "NT_X86_XSTATE",
  [`LINUX:${NT.X86_SHSTK}`]: "NT_X86_SHSTK",
  [`LINUX:${NT.X86_XSAVE_LAYOUT}`]: "NT_X86_XSAVE_LAYOUT",
  [`GDB:${NT.GDB_TDESC}`]: "NT_GDB_TDESC",
};

export function noteTypeName(owner: string, type: number): string {
  return NOTE_NAMES[`${owner}:${type}`] ?? `0x${type.toString(16)}`;
}

function cstring(b: Uint8Array): string {
  let end = b.indexOf(0);
  if (end < 0) end = b.length;
  let s = "";
  for (let i = 0; i < end; i++) s += String.fromCharCode(b[i]!);
  return s;
}

/** Parses the notes of one PT_NOTE segment. */
export function parseNotes(src: ByteSource, ph: ProgramHeader, firstIndex = 0): ElfNote[] {
  const p = `phdrs[${ph.index}]`;
  if (ph.filesz > LIMITS.maxNoteSegment)
    throw new InvalidDataError(
      `note segment of ${ph.filesz} bytes: more than the ${LIMITS.maxNoteSegment} supported`,
      {
        offset: ph.offset,
        path: `${p}/p_filesz`,
      },
    );
  if (ph.offset + ph.filesz > src.size)
    throw new TruncatedInputError(
      `input ends at ${src.size} bytes; the note segment needs ${ph.filesz} bytes at offset ${ph.offset}`,
      { offset: ph.offset, path: `${p}/notes` },
    );
  const v = readAt(src, ph.offset, ph.filesz, `${p}/notes`);
  const out: ElfNote[] = [];
  let o = 0;
  while (o < v.length) {
    const index = firstIndex + out.length;
    const np = `notes[${index}]`;
    if (out.length >= LIMITS.maxNotes)
      throw new InvalidDataError(`more than ${LIMITS.maxNotes} notes`, { offset: ph.offset + o, path: np });
    // Some writers pad the segment: a short zero tail is not a note.
    if (v.length - o < 12 && v.bytes.subarray(o).every((b) => b === 0)) break;
    const namesz = v.u32(o, `${np}/n_namesz`);
    const descsz = v.u32(o + 4, `${np}/n_descsz`);
    const type = v.u32(o + 8, `${np}/n_type`);
    const nameOff = o + 12;
    const namePad = pad4(namesz);
    if (nameOff + namePad > v.length)
      throw new TruncatedInputError(
        `note segment ends at offset ${ph.offset + v.length}; the note name needs ${namesz} bytes at offset ${ph.offset + nameOff}`,
        { offset: ph.offset + o, path: `${np}/n_namesz` },
      );
    const descOff = nameOff + namePad;
    if (descOff + descsz > v.length)
      throw new TruncatedInputError(
        `note segment ends at offset ${ph.offset + v.length}; the note descriptor needs ${descsz} bytes at offset ${ph.offset + descOff}`,
        { offset: ph.offset + o + 4, path: `${np}/n_descsz` },
      );
    const owner = cstring(v.bytes.subarray(nameOff, nameOff + namesz));
    out.push({
      index,
      owner,
      type,
      typeName: noteTypeName(owner, type),
      offset: ph.offset + o,
      descOffset: ph.offset + descOff,
      desc: v.bytes.subarray(descOff, descOff + descsz),
    });
    o = descOff + pad4(descsz);
  }
  return out;
}

/** Rounds up to a multiple of 4 (u32 values: no 32-bit bitwise arithmetic). */
function pad4(n: number): number {
  return n + ((4 - (n % 4)) % 4);
}

function notePath(n: ElfNote): string {
  return `notes[${n.index}]/${n.typeName}`;
}

function needDesc(n: ElfNote, size: number): ByteView {
  const v = new ByteView(n.desc, n.descOffset);
  if (n.desc.length < size)
    throw new TruncatedInputError(`${n.typeName} is ${n.desc.length} bytes; it needs at least ${size}`, {
      offset: n.descOffset,
      path: notePath(n),
    });
  return v;
}

export function parsePrStatus(n: ElfNote, index: number): CoreThread {
  const v = needDesc(n, PRSTATUS_MIN_SIZE);
  const p = notePath(n);
  const regs = {} as UserRegs;
  GPR_NAMES.forEach((name, i) => {
    regs[name] = v.u64(PRSTATUS_REGS_OFFSET + i * 8, `${p}/pr_reg/${name}`);
  });
  return {
    index,
    info: {
      signo: v.i32(0, `${p}/pr_info/si_signo`),
      code: v.i32(4, `${p}/pr_info/si_code`),
      errno: v.i32(8, `${p}/pr_info/si_errno`),
    },
    signal: v.u16(12, `${p}/pr_cursig`),
    sigpend: v.u64(16, `${p}/pr_sigpend`),
    sighold: v.u64(24, `${p}/pr_sighold`),
    tid: v.i32(32, `${p}/pr_pid`),
    ppid: v.i32(36, `${p}/pr_ppid`),
    pgrp: v.i32(40, `${p}/pr_pgrp`),
    sid: v.i32(44, `${p}/pr_sid`),
    regs,
    fpvalid: v.has(PRSTATUS_MIN_SIZE, 4) ? v.i32(PRSTATUS_MIN_SIZE, `${p}/pr_fpvalid`) : 0,
    notes: [n],
  };
}

export function parsePrPsInfo(n: ElfNote): CorePsInfo {
  const v = needDesc(n, PRPSINFO_SIZE);
  const p = notePath(n);
  return {
    state: v.u8(0, `${p}/pr_state`),
    sname: String.fromCharCode(v.u8(1, `${p}/pr_sname`)),
    zomb: v.u8(2, `${p}/pr_zomb`),
    nice: (v.u8(3, `${p}/pr_nice`) << 24) >> 24,
    flag: v.u64(8, `${p}/pr_flag`),
    uid: v.u32(16, `${p}/pr_uid`),
    gid: v.u32(20, `${p}/pr_gid`),
    pid: v.i32(24, `${p}/pr_pid`),
    ppid: v.i32(28, `${p}/pr_ppid`),
    pgrp: v.i32(32, `${p}/pr_pgrp`),
    sid: v.i32(36, `${p}/pr_sid`),
    fname: cstring(v.slice(40, 16, `${p}/pr_fname`)),
    psargs: cstring(v.slice(56, 80, `${p}/pr_psargs`)).trimEnd(),
  };
}

export function parseSigInfo(n: ElfNote): CoreSigInfo {
  const v = needDesc(n, 24);
  const p = notePath(n);
  const s: CoreSigInfo = {
    signo: v.i32(0, `${p}/si_signo`),
    errno: v.i32(4, `${p}/si_errno`),
    code: v.i32(8, `${p}/si_code`),
  };
  const faults = new Set([4, 5, 7, 8, 11]); // SIGILL SIGTRAP SIGBUS SIGFPE SIGSEGV
  if (s.code > 0 && faults.has(s.signo)) s.addr = v.u64(16, `${p}/si_addr`);
  else {
    s.pid = v.i32(16, `${p}/si_pid`);
    s.uid = v.u32(20, `${p}/si_uid`);
  }
  return s;
}

export function parseAuxv(n: ElfNote): { type: number; value: bigint }[] {
  const v = new ByteView(n.desc, n.descOffset);
  const p = notePath(n);
  const out: { type: number; value: bigint }[] = [];
  for (let o = 0; o + 16 <= v.length; o += 16) {
    const t = v.u64(o, `${p}/a_type`);
    if (t === 0n) break;
    out.push({ type: t > 0xffffffffn ? -1 : Number(t), value: v.u64(o + 8, `${p}/a_val`) });
  }
  return out;
}

export function parseFileNote(n: ElfNote): { pageSize: bigint; entries: CoreMappedFile[] } {
  const v = needDesc(n, 16);
  const p = notePath(n);
  const count = v.u64(0, `${p}/count`);
  const pageSize = v.u64(8, `${p}/page_size`);
  // Every entry takes 24 bytes of triple plus at least one byte of name.
  if (count * 25n > BigInt(v.length - 16))
    throw new TruncatedInputError(`NT_FILE announces ${count} mappings but is only ${v.length} bytes`, {
      offset: n.descOffset,
      path: `${p}/count`,
    });
  const c = Number(count);
  const entries: CoreMappedFile[] = [];
  let s = 16 + c * 24;
  for (let i = 0; i < c; i++) {
    const o = 16 + i * 24;
    let end = n.desc.indexOf(0, s);
    if (end < 0) {
      if (s >= v.length)
        throw new TruncatedInputError(`NT_FILE ends before the name of mapping ${i}`, {
          offset: n.descOffset + s,
          path: `${p}/names[${i}]`,
        });
      end = v.length;
    }
    entries.push({
      start: v.u64(o, `${p}/files[${i}]/start`),
      end: v.u64(o + 8, `${p}/files[${i}]/end`),
      fileOffset: v.u64(o + 16, `${p}/files[${i}]/pgoff`) * pageSize,
      name: utf8(n.desc.subarray(s, end)),
    });
    s = end + 1;
  }
  return { pageSize, entries };
}

function utf8(b: Uint8Array): string {
  let latin = "";
  for (const x of b) latin += String.fromCharCode(x);
  try {
    return decodeURIComponent(escape(latin));
  } catch {
    return latin;
  }
}

export function parseXsaveLayoutNote(n: ElfNote): XsaveLayoutEntry[] {
  const v = new ByteView(n.desc, n.descOffset);
  const p = notePath(n);
  if (v.length % 16 !== 0)
    throw new InvalidDataError(`NT_X86_XSAVE_LAYOUT is ${v.length} bytes, not a multiple of 16`, {
      offset: n.descOffset,
      path: p,
    });
  const out: XsaveLayoutEntry[] = [];
  for (let o = 0; o < v.length; o += 16) {
    const i = o / 16;
    const e: XsaveLayoutEntry = {
      type: v.u32(o, `${p}/[${i}]/type`),
      size: v.u32(o + 4, `${p}/[${i}]/size`),
      offset: v.u32(o + 8, `${p}/[${i}]/offset`),
      flags: v.u32(o + 12, `${p}/[${i}]/flags`),
    };
    if (e.type > 63)
      throw new InvalidDataError(`component type ${e.type} is not an XSAVE component number`, {
        offset: n.descOffset + o,
        path: `${p}/[${i}]/type`,
      });
    if (e.offset + e.size > LIMITS.maxXstate)
      throw new InvalidDataError(`component ${e.type} ends at ${e.offset + e.size}, beyond any XSAVE area`, {
        offset: n.descOffset + o + 8,
        path: `${p}/[${i}]/offset`,
      });
    out.push(e);
  }
  return out;
}

/** Thread-scoped note types (attached to the NT_PRSTATUS before them). */
function isThreadNote(n: ElfNote): boolean {
  if (n.owner === "CORE") return n.type === NT.PRFPREG || n.type === NT.SIGINFO || n.type === NT.TASKSTRUCT;
  if (n.owner === "LINUX") return n.type !== NT.X86_XSAVE_LAYOUT;
  return false;
}

/** Parses headers and notes. PT_LOAD contents are not read (see `coreMemory`). */
export function parseElfCore(src: ByteSource): ElfCore {
  const header = parseElfHeader(src);
  const programHeaders = parseProgramHeaders(src, header);
  const notes: ElfNote[] = [];
  for (const ph of programHeaders) {
    if (ph.type !== PT_NOTE) continue;
    notes.push(...parseNotes(src, ph, notes.length));
  }
  const core: ElfCore = {
    source: src,
    header,
    programHeaders,
    notes,
    threads: [],
    writtenByGdb: false,
    warnings: [],
  };
  let cur: CoreThread | undefined;
  for (const n of notes) {
    if (n.owner === "CORE" && n.type === NT.PRSTATUS) {
      cur = parsePrStatus(n, core.threads.length);
      core.threads.push(cur);
      continue;
    }
    if (isThreadNote(n)) {
      if (!cur) {
        core.warnings.push(`${n.typeName} at offset ${n.offset} comes before any NT_PRSTATUS; ignored`);
        continue;
      }
      cur.notes.push(n);
      if (n.owner === "CORE" && n.type === NT.PRFPREG) {
        if (n.desc.length < FXSAVE_SIZE)
          throw new TruncatedInputError(
            `NT_PRFPREG is ${n.desc.length} bytes; the FXSAVE image is ${FXSAVE_SIZE}`,
            {
              offset: n.descOffset,
              path: notePath(n),
            },
          );
        cur.fpregs = n.desc;
      } else if (n.owner === "CORE" && n.type === NT.SIGINFO) {
        cur.siginfo = parseSigInfo(n);
      } else if (n.owner === "LINUX" && n.type === NT.X86_XSTATE) {
        if (n.desc.length < XSTATE_MIN_SIZE)
          throw new TruncatedInputError(
            `NT_X86_XSTATE is ${n.desc.length} bytes; an XSAVE area is at least ${XSTATE_MIN_SIZE}`,
            { offset: n.descOffset, path: notePath(n) },
          );
        if (n.desc.length > LIMITS.maxXstate)
          throw new InvalidDataError(`NT_X86_XSTATE is ${n.desc.length} bytes, larger than any XSAVE area`, {
            offset: n.descOffset,
            path: notePath(n),
          });
        cur.xstate = n.desc;
        cur.xstateOffset = n.descOffset;
      }
      continue;
    }
    if (n.owner === "CORE" && n.type === NT.PRPSINFO) core.psinfo = parsePrPsInfo(n);
    else if (n.owner === "CORE" && n.type === NT.AUXV) core.auxv = parseAuxv(n);
    else if (n.owner === "CORE" && n.type === NT.FILE) core.files = parseFileNote(n);
    else if (n.owner === "LINUX" && n.type === NT.X86_XSAVE_LAYOUT)
      core.xsaveLayout = parseXsaveLayoutNote(n);
    else if (n.owner === "GDB" && n.type === NT.GDB_TDESC) core.writtenByGdb = true;
  }
  for (const ph of programHeaders) {
    if (ph.type === PT_LOAD && ph.offset + ph.filesz > src.size) {
      core.warnings.push(
        `segment ${ph.index} at 0x${ph.vaddr.toString(16)} runs past the end of the file (the core is truncated); its missing bytes are reported as not present`,
      );
    }
  }
  return core;
}

/** An auxv value, where the core has NT_AUXV and the entry. */
export function auxvValue(core: ElfCore, type: number): bigint | undefined {
  return core.auxv?.find((a) => a.type === type)?.value;
}

/** XCR0 as the XSTATE note records it (bytes 464..471), from the first thread that has one. */
export function noteXcr0(core: ElfCore): bigint | undefined {
  const t = core.threads.find((x) => x.xstate);
  if (!t?.xstate) return undefined;
  return new DataView(t.xstate.buffer, t.xstate.byteOffset, t.xstate.byteLength).getBigUint64(464, true);
}
