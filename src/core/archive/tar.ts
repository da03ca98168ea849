/**
 * Tar members, streamed: ustar, pax extended headers (`path`, `size`) and GNU long names and
 * base-256 sizes, as GNU tar, bsdtar and Go's archive/tar (Podman, CRI-O) write them. The reader
 * pulls the source's chunks itself and hands a member's bytes on as views of them (no Web Streams,
 * no per-chunk copies): a 1 GiB pages file costs one await per source chunk.
 *
 * Strict, as a reader of hostile input must be: every header's checksum is verified (the unsigned
 * sum, or the signed one old tars wrote), numbers are octal digits or a positive base-256 value
 * only, pax records are well formed, the end is two zero blocks followed by zeros only, and an
 * archive that ends without them is truncated. What a header claims is never trusted: a member's
 * body is counted as it is read (one that ends early is a truncated archive, whatever size it
 * claimed, and nothing is allocated for it); extended headers are capped; names that would leave
 * the archive (absolute, `..`) are refused, as is an archive of more than `maxMembers` members.
 */
import { InvalidDataError, isSigframeError, TruncatedInputError } from "../errors.ts";
import type { ByteStream } from "./streams.ts";

export interface TarMember {
  /** Normalised path inside the archive (no leading `./`, no trailing `/`). */
  name: string;
  /** "file", "directory", "symlink", "link", "character-device", "block-device", "fifo" or "other". */
  type: string;
  /** The size the header claims (only a hint: the body is counted as it is read). */
  size: number;
  /** Index of the member in the archive (0-based). */
  index: number;
  /** The body; read it before asking for the next member, or it is skipped. */
  body: ByteStream;
}

export interface TarOptions {
  /** Most members accepted (a tar bomb of a million empty members is refused early). */
  maxMembers?: number;
}

/** Default member limit: a checkpoint archive has tens to a few thousand members. */
export const MAX_TAR_MEMBERS = 100_000;

const BLOCK = 512;
/** Largest pax extended header or GNU long name kept (PATH_MAX is 4096; xattrs can be larger). */
const MAX_META_SIZE = 8 << 20;
/** Most extended headers before one member (pax `x`, `g`, GNU `L`, `K`): a real tar writes ≤ 3. */
const MAX_META_IN_A_ROW = 16;
/** Bytes after the two end blocks that are checked to be zeros (GNU tar pads to 10 KiB records). */
const MAX_TRAILER = 1 << 20;

const EMPTY = new Uint8Array(0);

const TYPES: Record<number, string> = {
  0: "file", // pre-POSIX tar
  48: "file", // '0'
  55: "file", // '7' contiguous file
  49: "link",
  50: "symlink",
  51: "character-device",
  52: "block-device",
  53: "directory",
  54: "fifo",
};
/** Types whose header size is not a body (POSIX: links carry none; the rest have no data). */
const BODYLESS: ReadonlySet<string> = new Set([
  "link",
  "symlink",
  "character-device",
  "block-device",
  "directory",
  "fifo",
]);
const PAX = 0x78; // 'x'
const PAX_GLOBAL = 0x67; // 'g'
const GNU_LONG_NAME = 0x4c; // 'L'
const GNU_LONG_LINK = 0x4b; // 'K'

/** Cleans a member name; throws for names that point outside the archive. */
export function memberName(raw: string, index: number): string {
  const bad = (why: string) =>
    new InvalidDataError(`tar member ${index} is named ${JSON.stringify(raw)}: ${why}`, {
      path: `members/${index}/name`,
    });
  if (raw.includes("\0")) throw bad("a NUL byte in the name");
  if (raw.startsWith("/")) throw bad("an absolute path");
  const parts = raw.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw bad("a '..' component (path traversal)");
  return parts.join("/");
}

type TextDecoderCtor = new (label?: string) => { decode(b: Uint8Array): string };
const decoder = new (globalThis as unknown as { TextDecoder: TextDecoderCtor }).TextDecoder("utf-8");

/** A NUL-terminated string field. */
function cString(b: Uint8Array, off: number, len: number): string {
  let end = off;
  while (end < off + len && b[end] !== 0) end++;
  return decoder.decode(b.subarray(off, end));
}

/**
 * A numeric header field: octal digits (leading spaces, then NUL or space terminated), or GNU
 * base-256 (first byte 0x80, big-endian value in the rest); undefined when it is neither.
 */
function tarNumber(b: Uint8Array, off: number, len: number): number | undefined {
  if (b[off] === 0x80) {
    let v = 0;
    for (let i = off + 1; i < off + len; i++) v = v * 256 + b[i]!;
    return Number.isSafeInteger(v) ? v : undefined;
  }
  let i = off;
  const end = off + len;
  while (i < end && b[i] === 0x20) i++;
  let v = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = b[i]!;
    if (c === 0 || c === 0x20) break;
    if (c < 0x30 || c > 0x37) return undefined;
    v = v * 8 + (c - 0x30);
    digits++;
  }
  for (; i < end; i++) if (b[i] !== 0 && b[i] !== 0x20) return undefined;
  return digits > 0 && Number.isSafeInteger(v) ? v : undefined;
}

/** The header's checksum holds (the unsigned byte sum with the field as spaces, or the signed one). */
function checksumHolds(b: Uint8Array): boolean {
  const stored = tarNumber(b, 148, 8);
  if (stored === undefined) return false;
  let unsigned = 8 * 0x20;
  let signed = 8 * 0x20;
  for (let i = 0; i < BLOCK; i++) {
    if (i === 148) {
      i += 7;
      continue;
    }
    const c = b[i]!;
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  return stored === unsigned || stored === signed;
}

function isZeroBlock(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/** The records of a pax extended header (`<length> <key>=<value>\n`), strictly. */
function paxRecords(b: Uint8Array, bad: (why: string) => Error): Map<string, string> {
  const out = new Map<string, string>();
  let o = 0;
  while (o < b.length) {
    if (b[o] === 0) {
      // NUL padding after the last record (some writers keep it in the size).
      if (isZeroBlock(b.subarray(o))) break;
      throw bad("a NUL byte between pax records");
    }
    let sp = o;
    let len = 0;
    while (sp < b.length && sp - o < 12 && b[sp]! >= 0x30 && b[sp]! <= 0x39)
      len = len * 10 + (b[sp++]! - 0x30);
    if (sp === o || b[sp] !== 0x20 || len <= sp - o + 1 || o + len > b.length || b[o + len - 1] !== 0x0a)
      throw bad(`a malformed pax record at byte ${o}`);
    const rec = b.subarray(sp + 1, o + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq <= 0) throw bad(`a pax record without a key at byte ${o}`);
    out.set(decoder.decode(rec.subarray(0, eq)), decoder.decode(rec.subarray(eq + 1)));
    o += len;
  }
  return out;
}

/** The source's chunks, read forward; bytes are handed on as views of them. */
class Chunks {
  private cur: Uint8Array = EMPTY;
  private pos = 0;
  private ended = false;
  /** Bytes consumed (the archive offset). */
  offset = 0;
  constructor(private readonly it: AsyncIterator<Uint8Array>) {}

  /** Up to `max` bytes (a view of a source chunk), or undefined at the source's end. */
  async take(max: number): Promise<Uint8Array | undefined> {
    while (this.pos >= this.cur.length) {
      if (this.ended) return undefined;
      const r = await this.it.next();
      if (r.done) {
        this.ended = true;
        return undefined;
      }
      this.cur = r.value;
      this.pos = 0;
    }
    const n = Math.min(max, this.cur.length - this.pos);
    const v = this.cur.subarray(this.pos, this.pos + n);
    this.pos += n;
    this.offset += n;
    return v;
  }

  /** Exactly `n` bytes (a view when one chunk holds them), or fewer at the source's end. */
  async exact(n: number): Promise<Uint8Array> {
    const first = await this.take(n);
    if (!first || first.length === n) return first ?? EMPTY;
    const out = new Uint8Array(n);
    out.set(first);
    let got = first.length;
    while (got < n) {
      const v = await this.take(n - got);
      if (!v) return out.subarray(0, got);
      out.set(v, got);
      got += v.length;
    }
    return out;
  }

  /** Skips up to `n` bytes; how many there were. */
  async skip(n: number): Promise<number> {
    let done = 0;
    while (done < n) {
      const v = await this.take(n - done);
      if (!v) break;
      done += v.length;
    }
    return done;
  }

  /** Stops reading: closes the source (a decompressor process, an open file) unless it ended. */
  async close(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    await this.it.return?.();
  }
}

/** One member's body: views of the source's chunks, `size` bytes in all. */
class MemberBody implements AsyncIterableIterator<Uint8Array> {
  private remaining: number;
  private read = 0;
  private stale = false;
  constructor(
    private readonly src: Chunks,
    private readonly size: number,
    private readonly name: string,
    private readonly index: number,
  ) {
    this.remaining = size;
  }
  [Symbol.asyncIterator](): this {
    return this;
  }
  async next(): Promise<IteratorResult<Uint8Array>> {
    if (this.stale) throw new Error(`tar member ${JSON.stringify(this.name)} read after the next member`);
    if (this.remaining === 0) return { done: true, value: undefined };
    let v: Uint8Array | undefined;
    try {
      v = await this.src.take(this.remaining);
    } catch (e) {
      throw tarError(e, this.index, this.name);
    }
    if (!v) throw this.truncated();
    this.remaining -= v.length;
    this.read += v.length;
    return { done: false, value: v };
  }
  /** Leaving the body early is fine: the reader skips the rest. */
  async return(): Promise<IteratorResult<Uint8Array>> {
    return { done: true, value: undefined };
  }
  /** Skips what was not read (counting it, so that truncation is still seen) and the padding. */
  async finish(): Promise<void> {
    if (this.remaining > 0) {
      const n = await this.src.skip(this.remaining);
      this.read += n;
      this.remaining -= n;
      if (this.remaining > 0) throw this.truncated();
    }
    this.stale = true;
    const pad = -this.size & (BLOCK - 1);
    if (pad && (await this.src.skip(pad)) < pad)
      throw new TruncatedInputError(`the archive ends inside the padding of ${JSON.stringify(this.name)}`, {
        path: `members/${this.index}`,
      });
  }
  private truncated(): Error {
    return new TruncatedInputError(
      `tar member ${JSON.stringify(this.name)} claims ${this.size} bytes; the archive ends after ${this.read}`,
      { path: `members/${this.index}` },
    );
  }
}

/** The members of a tar stream, in archive order. */
export async function* tarMembers(src: ByteStream, opts: TarOptions = {}): AsyncGenerator<TarMember> {
  const max = opts.maxMembers ?? MAX_TAR_MEMBERS;
  const r = new Chunks(src[Symbol.asyncIterator]());
  let index = 0;
  const invalid = (why: string, offset: number) =>
    new InvalidDataError(`not a readable tar archive at member ${index}: ${why}`, {
      path: `members/${index}`,
      offset,
    });
  const ends = (why: string) =>
    new TruncatedInputError(`the tar archive ends ${why}`, { path: `members/${index}` });
  try {
    // What extended headers say about the next member.
    let longName: string | undefined;
    let pax: Map<string, string> | undefined;
    let metas = 0;
    for (;;) {
      const at = r.offset;
      let block: Uint8Array;
      try {
        block = await r.exact(BLOCK);
      } catch (e) {
        throw tarError(e, index);
      }
      if (block.length < BLOCK) throw ends(block.length === 0 ? "without its end blocks" : "inside a header");
      if (isZeroBlock(block)) {
        const second = await r.exact(BLOCK);
        if (second.length < BLOCK) throw ends("after one end block, without the second");
        if (!isZeroBlock(second)) throw invalid("a zero block in the middle of the archive", at);
        // After the end: zeros only (the record padding), checked over a bounded length.
        for (let seen = 0; seen < MAX_TRAILER; ) {
          const v = await r.take(MAX_TRAILER - seen);
          if (!v) break;
          if (!isZeroBlock(v)) throw invalid("data after the end of the archive", r.offset - v.length);
          seen += v.length;
        }
        return;
      }
      if (!checksumHolds(block)) throw invalid("the header checksum does not match (not a tar header)", at);
      const flag = block[156]!;
      const size = tarNumber(block, 124, 12);
      if (size === undefined) throw invalid("the size field is not a number", at + 124);
      if (flag === PAX || flag === PAX_GLOBAL || flag === GNU_LONG_NAME || flag === GNU_LONG_LINK) {
        if (++metas > MAX_META_IN_A_ROW)
          throw invalid(`more than ${MAX_META_IN_A_ROW} extended headers in a row`, at);
        if (size > MAX_META_SIZE)
          throw invalid(`an extended header of ${size} bytes (the limit is ${MAX_META_SIZE})`, at);
        const padded = size + (-size & (BLOCK - 1));
        const body = await r.exact(padded);
        if (body.length < padded) throw ends("inside an extended header");
        const data = body.subarray(0, size);
        if (flag === GNU_LONG_NAME) longName = cString(data, 0, data.length);
        else if (flag === PAX) pax = paxRecords(data, (why) => invalid(why, at + BLOCK));
        else if (flag === PAX_GLOBAL) paxRecords(data, (why) => invalid(why, at + BLOCK));
        continue;
      }
      metas = 0;
      if (index >= max)
        throw new InvalidDataError(`the archive has more than ${max} members (a tar bomb?)`, {
          path: `members/${index}`,
        });
      let raw = cString(block, 0, 100);
      // POSIX ustar's prefix field (GNU's "ustar  " header keeps other fields there).
      if (block[257] === 0x75 && block[262] === 0 && block[345] !== 0)
        raw = `${cString(block, 345, 155)}/${raw}`;
      if (longName !== undefined) raw = longName;
      let claimed = size;
      const paxPath = pax?.get("path");
      if (paxPath !== undefined) raw = paxPath;
      const paxSize = pax?.get("size");
      if (paxSize !== undefined) {
        const v = /^\d{1,16}$/.test(paxSize) ? Number(paxSize) : Number.NaN;
        if (!Number.isSafeInteger(v)) throw invalid(`a pax size of ${JSON.stringify(paxSize)}`, at);
        claimed = v;
      }
      longName = undefined;
      pax = undefined;
      let type = TYPES[flag] ?? "other";
      if (type === "file" && raw.endsWith("/")) type = "directory";
      if (BODYLESS.has(type)) claimed = 0;
      const name = memberName(raw, index);
      const body = new MemberBody(r, claimed, name, index);
      yield { name, type, size: claimed, index, body };
      await body.finish();
      index++;
    }
  } catch (e) {
    throw tarError(e, index);
  } finally {
    await r.close();
  }
}

function tarError(e: unknown, index: number, name?: string): Error {
  if (isSigframeError(e)) return e;
  const msg = e instanceof Error ? e.message : String(e);
  const where = name === undefined ? `at member ${index}` : `in member ${JSON.stringify(name)}`;
  const text = `not a readable tar archive ${where}: ${msg}`;
  return /unexpected end|truncat|premature|eof/i.test(msg)
    ? new TruncatedInputError(text, { path: `members/${index}` })
    : new InvalidDataError(text, { path: `members/${index}` });
}
