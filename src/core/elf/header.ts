/**
 * The ELF header and the program headers of a core, read through a ByteSource: every length taken
 * from the file is checked against the file size and a fixed cap before anything is allocated.
 */
import { ByteView } from "../bytes.ts";
import { InvalidDataError, TruncatedInputError } from "../errors.ts";
import type { ByteSource } from "../source.ts";
import {
  EHDR_SIZE,
  EM_X86_64,
  ET_CORE,
  hasElfMagic,
  LIMITS,
  PHDR_SIZE,
  PN_XNUM,
  PT_LOAD,
  PT_NOTE,
  SHDR_SIZE,
} from "./format.ts";

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

/** Reads [offset, offset+length) from the source, failing with the field path when it is short. */
export function readAt(src: ByteSource, offset: number, length: number, path: string): ByteView {
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
  if (!hasElfMagic(v.bytes))
    throw new InvalidDataError("not an ELF file (bad magic)", { offset: 0, path: "ehdr/e_ident" });
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
