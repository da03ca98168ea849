/**
 * An ELF core read in one pass, as a compressed core arrives (systemd-coredump's `.zst`, `.xz`,
 * `.lz4`): the head of the stream is buffered until the ELF header and the program headers are in
 * (bounded), then every byte goes on to a sink (the streaming scanner) while the PT_NOTE segments
 * are kept as they go by, wherever they lie. At the end the headers and notes are parsed by the
 * same code as a core on disk (core.ts), over a source that holds just those bytes and knows the
 * stream's real size, so truncation is judged the same way.
 *
 * The kernel (fs/binfmt_elf.c elf_core_dump) and gdb write the program headers and notes before
 * the segment data. Where a writer put them after the data (or the segment count in section
 * header 0 at the end of the file, PN_XNUM, which the kernel does for more than 65534 mappings),
 * this pass keeps those bytes and says so (`again`); a second pass then knows the headers from its
 * first byte. Reading twice needs an input that can be opened again (a file, not a pipe).
 */
import { InvalidDataError } from "../errors.ts";
import type { ByteSource } from "../source.ts";
import { EHDR_SIZE, LIMITS, PHDR_SIZE, PN_XNUM, PT_NOTE, SHDR_SIZE } from "./format.ts";
import { type ElfHeader, type ProgramHeader, parseElfHeader, parseProgramHeaders } from "./header.ts";

/** Most bytes buffered from the start of the stream while waiting for the program headers. */
export const MAX_CORE_HEAD = 64 << 20;
/** Most bytes of PT_NOTE segments kept in all. */
export const MAX_CORE_NOTES = 256 << 20;
/** Most bytes of a program header table kept by a headers pass. */
const MAX_PHDR_TABLE = LIMITS.maxProgramHeaders * PHDR_SIZE;

/** Bytes of the file at an offset. */
export interface FilePart {
  offset: number;
  bytes: Uint8Array;
}

export interface CoreHeaders {
  header: ElfHeader;
  programHeaders: ProgramHeader[];
}

/** Receives the stream's bytes from offset 0 on, once the headers are known. */
export interface CoreSink {
  push(bytes: Uint8Array): void;
}

export interface CorePassOptions {
  /** What an earlier pass kept (the ELF header, section header 0, the program headers). */
  known?: readonly FilePart[];
  /** The headers are known: where the stream's bytes go (undefined: nowhere). */
  onHeaders?(h: CoreHeaders): CoreSink | undefined;
  /** Stop reading once the notes are in (a profile needs no memory; the size is then not known). */
  notesOnly?: boolean;
  /** Most bytes buffered while waiting for the headers (default MAX_CORE_HEAD). */
  maxHead?: number;
}

export type CorePassResult =
  /** Headers and notes over a source of the stream's size (`size` unknown with notesOnly). */
  | { kind: "done"; source: ByteSource; headers: CoreHeaders; size: number | undefined }
  /** The headers lie past the data: read again with `known`. */
  | { kind: "again"; known: FilePart[]; why: string };

/** A ByteSource over the kept parts of a file whose size is known. */
export class PartsSource implements ByteSource {
  readonly size: number;
  private readonly parts: readonly FilePart[];
  constructor(size: number, parts: readonly FilePart[]) {
    this.size = size;
    this.parts = parts;
  }
  has(offset: number, length: number): boolean {
    return this.parts.some((p) => offset >= p.offset && offset + length <= p.offset + p.bytes.length);
  }
  read(offset: number, length: number): Uint8Array {
    for (const p of this.parts)
      if (offset >= p.offset && offset + length <= p.offset + p.bytes.length)
        return p.bytes.subarray(offset - p.offset, offset - p.offset + length);
    throw new InvalidDataError(
      `bytes ${offset}..${offset + length} of the core were not kept from the stream`,
      { offset },
    );
  }
}

const u16 = (b: Uint8Array, o: number) => b[o]! | (b[o + 1]! << 8);
const u32 = (b: Uint8Array, o: number) =>
  (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
const u64 = (b: Uint8Array, o: number) => u32(b, o) + u32(b, o + 4) * 2 ** 32;

/** Where the program header table is, from the ELF header (and section header 0 for PN_XNUM). */
function tablePlace(
  ehdr: Uint8Array,
  have: (offset: number, length: number) => Uint8Array | undefined,
): { need: { offset: number; length: number }; phdrs?: { offset: number; length: number } } {
  const phoff = u64(ehdr, 32);
  const shoff = u64(ehdr, 40);
  const phentsize = u16(ehdr, 54);
  let phnum = u16(ehdr, 56);
  if (phnum === PN_XNUM && shoff > 0) {
    const sh = have(shoff, SHDR_SIZE);
    if (!sh) return { need: { offset: shoff, length: SHDR_SIZE } };
    phnum = u32(sh, 44);
  }
  const length = Math.min(phnum * phentsize, MAX_PHDR_TABLE + 1);
  return { need: { offset: phoff, length }, phdrs: { offset: phoff, length } };
}

/** One pass over a core's bytes; see the module comment. */
export async function readCorePass(
  src: AsyncIterable<Uint8Array>,
  opts: CorePassOptions = {},
): Promise<CorePassResult> {
  const known = [...(opts.known ?? [])];
  const maxHead = opts.maxHead ?? MAX_CORE_HEAD;
  let head = new Uint8Array(0);
  let headLen = 0;
  let total = 0;
  let headers: CoreHeaders | undefined;
  let sink: CoreSink | undefined;
  /** Ranges being kept from the bytes still to come: notes, or a headers pass's tables. */
  const keep: { from: number; to: number; bytes: Uint8Array }[] = [];
  let headersPass: string | undefined;
  /**
   * The end of the last byte the headers name (segments, the program header table, section
   * header 0 for PN_XNUM): nothing past it is read, so bytes appended to a core (or a compressed
   * stream that inflates far past it) cost nothing.
   */
  let extent = Number.POSITIVE_INFINITY;

  const fromKept = (offset: number, length: number): Uint8Array | undefined => {
    if (offset + length <= headLen) return head.subarray(offset, offset + length);
    for (const p of known)
      if (offset >= p.offset && offset + length <= p.offset + p.bytes.length)
        return p.bytes.subarray(offset - p.offset, offset - p.offset + length);
    return undefined;
  };
  const keepRange = (from: number, to: number) => {
    const r = { from, to, bytes: new Uint8Array(to - from) };
    // What the head already holds.
    const a = Math.min(headLen, to);
    if (a > from) r.bytes.set(head.subarray(from, a));
    keep.push(r);
  };
  const copyKept = (chunk: Uint8Array, from: number) => {
    const to = from + chunk.length;
    for (const r of keep) {
      const a = Math.max(from, r.from);
      const b = Math.min(to, r.to);
      if (b > a) r.bytes.set(chunk.subarray(a - from, b - from), a - r.from);
    }
  };
  const parseHeaders = (size: number): CoreHeaders => {
    const parts = [{ offset: 0, bytes: head.subarray(0, headLen) }, ...known];
    const s = new PartsSource(size, parts);
    const header = parseElfHeader(s);
    return { header, programHeaders: parseProgramHeaders(s, header) };
  };
  const notesIn = () => keep.every((r) => total >= r.to);

  /** With the head so far: the headers if their bytes are in, else what to do. */
  const tryHeaders = (): "wait" | "done" | "pass" => {
    if (headLen < EHDR_SIZE) return "wait";
    const place = tablePlace(head, fromKept);
    const needBytes = place.need;
    if (!fromKept(needBytes.offset, needBytes.length)) {
      if (needBytes.offset + needBytes.length <= maxHead) return "wait";
      // Past what is buffered: keep those bytes as they go by, and read again.
      headersPass =
        place.phdrs === undefined
          ? `the core's segment count is in its section header at offset ${needBytes.offset}, after the data (PN_XNUM)`
          : `the core's program headers are at offset ${needBytes.offset}, after the data`;
      if (needBytes.length > MAX_PHDR_TABLE)
        throw new InvalidDataError(
          `the program header table (${needBytes.length} bytes) is larger than the ${MAX_PHDR_TABLE} supported`,
          { offset: 32, path: "ehdr/e_phnum" },
        );
      keepRange(needBytes.offset, needBytes.offset + needBytes.length);
      return "pass";
    }
    headers = parseHeaders(Math.max(headLen, ...known.map((p) => p.offset + p.bytes.length)));
    let noteBytes = 0;
    for (const ph of headers.programHeaders) {
      if (ph.type !== PT_NOTE || ph.filesz === 0 || ph.filesz > LIMITS.maxNoteSegment) continue;
      noteBytes += ph.filesz;
      if (noteBytes > MAX_CORE_NOTES)
        throw new InvalidDataError(`the core's notes are larger than the ${MAX_CORE_NOTES} bytes supported`, {
          offset: ph.offset,
          path: `phdrs[${ph.index}]/p_filesz`,
        });
      keepRange(ph.offset, ph.offset + ph.filesz);
    }
    sink = opts.onHeaders?.(headers);
    if (sink && headLen > 0) sink.push(head.subarray(0, headLen));
    // Only the tables stay of the head (and section header 0 with the count); notes are in `keep`.
    const phEnd = Math.min(headLen, tableEnd(headers));
    const shoff = u64(head, 40);
    if (u16(head, 56) === PN_XNUM && shoff + SHDR_SIZE > phEnd) {
      const sh = fromKept(shoff, SHDR_SIZE);
      if (sh) known.push({ offset: shoff, bytes: sh.slice() });
    }
    head = head.slice(0, Math.max(EHDR_SIZE, phEnd));
    headLen = head.length;
    extent = Math.max(
      EHDR_SIZE,
      tableEnd(headers),
      u16(head, 56) === PN_XNUM && shoff > 0 ? shoff + SHDR_SIZE : 0,
    );
    for (const ph of headers.programHeaders) extent = Math.max(extent, ph.offset + ph.filesz);
    return "done";
  };
  const appendHead = (chunk: Uint8Array) => {
    if (headLen + chunk.length > head.length) {
      const next = new Uint8Array(Math.max(headLen + chunk.length, head.length * 2, 1 << 16));
      next.set(head.subarray(0, headLen));
      head = next;
    }
    head.set(chunk, headLen);
    headLen += chunk.length;
  };

  /** A headers pass for PN_XNUM keeps buffering the head: the table may be in it. */
  let headStays = false;
  for await (const chunk of src) {
    if (chunk.length === 0) continue;
    const from = total;
    total += chunk.length;
    if (headers || headersPass) {
      sink?.push(chunk);
      copyKept(chunk, from);
      if (headStays && headLen < maxHead) appendHead(chunk.subarray(0, maxHead - headLen));
      if (headers && ((opts.notesOnly && notesIn()) || total >= extent)) break;
      continue;
    }
    appendHead(chunk);
    const state = tryHeaders();
    if (state === "wait" && headLen > maxHead)
      throw new InvalidDataError(`the core's headers are not in its first ${maxHead} bytes`, {
        offset: 0,
      });
    if (state === "pass") headStays = tablePlace(head, fromKept).phdrs === undefined;
    if (headers && ((opts.notesOnly && notesIn()) || total >= extent)) break;
  }
  if (headersPass) {
    const parts: FilePart[] = [{ offset: 0, bytes: head.slice(0, EHDR_SIZE) }, ...known];
    for (const r of keep) if (total >= r.to) parts.push({ offset: r.from, bytes: r.bytes });
    if (parts.length === 1 + known.length) {
      // The stream ended before those bytes: the core is truncated; the parse says so as for a file.
      parseHeaders(total);
      throw new InvalidDataError(headersPass, { offset: 0 });
    }
    if (headStays) {
      // Section header 0 is in now: the program header table may be in the buffered head.
      const have = (offset: number, length: number) => {
        for (const p of parts)
          if (offset >= p.offset && offset + length <= p.offset + p.bytes.length)
            return p.bytes.subarray(offset - p.offset, offset - p.offset + length);
        return offset + length <= headLen ? head.subarray(offset, offset + length) : undefined;
      };
      const t = tablePlace(head, have).phdrs;
      const table = t && have(t.offset, t.length);
      if (t && table) parts.push({ offset: t.offset, bytes: table.slice() });
    }
    return { kind: "again", known: parts, why: headersPass };
  }
  if (!headers) {
    // The stream ended before the headers were complete: the parse says what is missing.
    headers = parseHeaders(total);
  }
  const size = opts.notesOnly && !notesIn() ? total : opts.notesOnly ? undefined : total;
  const parts: FilePart[] = [{ offset: 0, bytes: head.subarray(0, headLen) }, ...known];
  for (const r of keep)
    parts.push({ offset: r.from, bytes: r.bytes.subarray(0, Math.max(0, Math.min(r.to, total) - r.from)) });
  return {
    kind: "done",
    source: new PartsSource(size ?? Number.MAX_SAFE_INTEGER, parts),
    headers,
    size,
  };
}

/** End of the program header table in the file. */
function tableEnd(h: CoreHeaders): number {
  return h.header.phoff + h.header.phnum * h.header.phentsize;
}
