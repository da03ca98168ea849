/**
 * A whole ELF core as the kernel (fs/binfmt_elf.c) and gdb's `gcore` write it: the headers
 * (header.ts), the notes (notes.ts) grouped into threads, and the process-wide notes.
 *
 * Everything is read through a ByteSource, so a multi-GiB core is never held in memory: only the
 * headers and the note segments are read; PT_LOAD contents stay on the source (memory.ts).
 *
 * Each NT_PRSTATUS starts a thread; the thread-scoped notes after it (NT_PRFPREG, NT_X86_XSTATE,
 * NT_SIGINFO, …) belong to that thread. NT_PRPSINFO, NT_AUXV, NT_FILE, NT_X86_XSAVE_LAYOUT and
 * NT_GDB_TDESC describe the process.
 */
import { InvalidDataError, TruncatedInputError } from "../errors.ts";
import type { ByteSource } from "../source.ts";
import { FXSAVE_SIZE, LIMITS, NT, PT_LOAD, PT_NOTE, XSTATE_MIN_SIZE } from "./format.ts";
import { type ElfHeader, type ProgramHeader, parseElfHeader, parseProgramHeaders } from "./header.ts";
import {
  type CoreMappedFile,
  type CorePsInfo,
  type CoreThread,
  type ElfNote,
  notePath,
  parseAuxv,
  parseFileNote,
  parseNotes,
  parsePrPsInfo,
  parsePrStatus,
  parseSigInfo,
  parseXsaveLayoutNote,
  type XsaveLayoutEntry,
} from "./notes.ts";

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
