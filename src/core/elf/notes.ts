/**
 * The notes of a core's PT_NOTE segments and the structures they hold (layouts in format.ts):
 * NT_PRSTATUS (a thread), NT_PRPSINFO, NT_SIGINFO, NT_AUXV, NT_FILE, NT_X86_XSAVE_LAYOUT.
 */
import { ByteView } from "../bytes.ts";
import { InvalidDataError, TruncatedInputError } from "../errors.ts";
import type { ByteSource } from "../source.ts";
import { cString, decodeText } from "../text.ts";
import {
  GPR_NAMES,
  LIMITS,
  NT,
  PRPSINFO_SIZE,
  PRSTATUS_MIN_SIZE,
  PRSTATUS_REGS_OFFSET,
  type UserRegs,
} from "./format.ts";
import { type ProgramHeader, readAt } from "./header.ts";

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
    const owner = boundedName(v.bytes.subarray(nameOff, nameOff + namesz), true);
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

/**
 * A note owner (NUL-terminated) or an NT_FILE path, decoded up to LIMITS.maxName bytes: a name
 * that long is no name Linux or gdb writes, and decoding all of a 60 MiB one would cost seconds.
 */
function boundedName(b: Uint8Array, nulTerminated: boolean): string {
  const end = nulTerminated ? b.indexOf(0) : -1;
  const bytes = end >= 0 ? b.subarray(0, end) : b;
  if (bytes.length <= LIMITS.maxName) return nulTerminated ? cString(bytes) : decodeText(bytes);
  return `${decodeText(bytes.subarray(0, LIMITS.maxName))}… (${bytes.length} bytes)`;
}

/** Rounds up to a multiple of 4 (u32 values: no 32-bit bitwise arithmetic). */
function pad4(n: number): number {
  return n + ((4 - (n % 4)) % 4);
}

export function notePath(n: ElfNote): string {
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
    fname: cString(v.slice(40, 16, `${p}/pr_fname`)),
    psargs: cString(v.slice(56, 80, `${p}/pr_psargs`)).trimEnd(),
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
  if (v.length > LIMITS.maxFileNote)
    throw new InvalidDataError(
      `NT_FILE is ${v.length} bytes; Linux writes at most ${LIMITS.maxFileNote} (CORE_FILE_NOTE_SIZE_MAX)`,
      { offset: n.descOffset, path: p },
    );
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
      name: boundedName(n.desc.subarray(s, end), false),
    });
    s = end + 1;
  }
  return { pageSize, entries };
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
