/**
 * LZ4 frame decoding (the format of `lz4` and of systemd-coredump's `.lz4` cores, lz4 frame
 * format 1.6.x), streamed block by block: memory is one block (at most 4 MiB, as the frame
 * descriptor declares) plus the 64 KiB history linked blocks may refer to. Concatenated and
 * skippable frames are read; checksums are skipped over (not verified).
 */
import { InvalidDataError, TruncatedInputError } from "../errors.ts";
import type { ByteStream } from "./streams.ts";

const FRAME_MAGIC = 0x184d2204;
const SKIPPABLE_MIN = 0x184d2a50;
const SKIPPABLE_MAX = 0x184d2a5f;
const HISTORY = 64 * 1024;
const BLOCK_MAX: Readonly<Record<number, number>> = { 4: 64 << 10, 5: 256 << 10, 6: 1 << 20, 7: 4 << 20 };

/** Pulls exact byte counts out of a chunked stream. */
class Pull {
  private readonly it: AsyncIterator<Uint8Array>;
  private buf: Uint8Array = new Uint8Array(0);
  private pos = 0;
  /** Bytes consumed so far (for error offsets). */
  offset = 0;
  constructor(src: ByteStream) {
    this.it = src[Symbol.asyncIterator]();
  }
  /** Stops the source early (its producer is told through return()). */
  async close(): Promise<void> {
    await this.it.return?.();
  }
  /** Whether the stream has another byte. */
  async more(): Promise<boolean> {
    while (this.pos >= this.buf.length) {
      const r = await this.it.next();
      if (r.done) return false;
      this.buf = r.value;
      this.pos = 0;
    }
    return true;
  }
  /** Exactly `n` bytes (a copy when they span chunks). */
  async take(n: number, what: string): Promise<Uint8Array> {
    if (this.buf.length - this.pos >= n) {
      const v = this.buf.subarray(this.pos, this.pos + n);
      this.pos += n;
      this.offset += n;
      return v;
    }
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      if (!(await this.more()))
        throw new TruncatedInputError(`lz4: the stream ends inside ${what}`, { offset: this.offset });
      const k = Math.min(n - got, this.buf.length - this.pos);
      out.set(this.buf.subarray(this.pos, this.pos + k), got);
      this.pos += k;
      got += k;
      this.offset += k;
    }
    return out;
  }
  async u32(what: string): Promise<number> {
    const b = await this.take(4, what);
    return (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
  }
  async skip(n: number, what: string): Promise<void> {
    while (n > 0) {
      const k = Math.min(n, 1 << 20);
      await this.take(k, what);
      n -= k;
    }
  }
}

/**
 * Decodes one LZ4 block into `out` at `start` (history before `start` may be referenced).
 * Returns the end of the decoded data.
 */
export function decodeBlock(
  src: Uint8Array,
  out: Uint8Array,
  start: number,
  limit: number,
  base: number,
): number {
  let i = 0;
  let o = start;
  const n = src.length;
  const bad = (why: string): never => {
    throw new InvalidDataError(`lz4: corrupt block (${why})`, { offset: base + i });
  };
  for (;;) {
    if (i >= n) bad("it ends before its last literals");
    const token = src[i++]!;
    let lit = token >>> 4;
    if (lit === 15) {
      for (;;) {
        if (i >= n) bad("a literal length runs past the block");
        const b = src[i++]!;
        lit += b;
        if (b !== 255) break;
      }
    }
    if (i + lit > n || o + lit > limit) bad("literals run past the block");
    out.set(src.subarray(i, i + lit), o);
    i += lit;
    o += lit;
    if (i === n) return o;
    if (i + 2 > n) bad("a match offset runs past the block");
    const off = src[i]! | (src[i + 1]! << 8);
    i += 2;
    if (off === 0 || off > o) bad(`match offset ${off} points before the data`);
    let len = (token & 15) + 4;
    if ((token & 15) === 15) {
      for (;;) {
        if (i >= n) bad("a match length runs past the block");
        const b = src[i++]!;
        len += b;
        if (b !== 255) break;
      }
    }
    if (o + len > limit) bad("a match runs past the declared block size");
    let from = o - off;
    if (off >= len) {
      out.copyWithin(o, from, from + len);
      o += len;
    } else {
      for (const end = o + len; o < end; ) out[o++] = out[from++]!;
    }
  }
}

/** Decompresses an LZ4 frame stream. */
export async function* lz4Decompress(src: ByteStream): AsyncGenerator<Uint8Array> {
  const p = new Pull(src);
  let ended = false;
  try {
    yield* lz4Frames(p);
    ended = true;
  } finally {
    // Stopped early (a limit downstream, an error): the source's producer stops too.
    if (!ended) await p.close();
  }
}

async function* lz4Frames(p: Pull): AsyncGenerator<Uint8Array> {
  let frames = 0;
  while (await p.more()) {
    const at = p.offset;
    const magic = await p.u32("a frame magic");
    if (magic >= SKIPPABLE_MIN && magic <= SKIPPABLE_MAX) {
      await p.skip(await p.u32("a skippable frame size"), "a skippable frame");
      continue;
    }
    if (magic !== FRAME_MAGIC) {
      if (frames > 0)
        throw new InvalidDataError(
          `lz4: bytes after the last frame are not a frame (magic 0x${magic.toString(16)})`,
          { offset: at },
        );
      throw new InvalidDataError(`lz4: not an LZ4 frame (magic 0x${magic.toString(16)})`, { offset: at });
    }
    frames++;
    const d = await p.take(2, "the frame descriptor");
    const flg = d[0]!;
    const bd = d[1]!;
    if (flg >> 6 !== 1)
      throw new InvalidDataError(`lz4: frame version ${flg >> 6} is not 1`, { offset: at + 4 });
    const indep = (flg & 0x20) !== 0;
    const blockSum = (flg & 0x10) !== 0;
    const contentSize = (flg & 0x08) !== 0;
    const contentSum = (flg & 0x04) !== 0;
    const dict = (flg & 0x01) !== 0;
    const max = BLOCK_MAX[(bd >> 4) & 7];
    if (!max || bd & 0x8f)
      throw new InvalidDataError(`lz4: bad block descriptor 0x${bd.toString(16)}`, { offset: at + 5 });
    if (dict)
      throw new InvalidDataError("lz4: frames that need a dictionary are not supported", { offset: at + 4 });
    if (contentSize) await p.take(8, "the content size");
    await p.take(1, "the header checksum");
    const out = new Uint8Array(HISTORY + max);
    let hist = 0;
    for (;;) {
      const bat = p.offset;
      const word = await p.u32("a block size");
      if (word === 0) break;
      const raw = (word & 0x80000000) !== 0;
      const size = word & 0x7fffffff;
      if (size > max)
        throw new InvalidDataError(
          `lz4: a block of ${size} bytes is larger than the frame's maximum ${max}`,
          {
            offset: bat,
          },
        );
      const data = await p.take(size, "a block");
      if (blockSum) await p.take(4, "a block checksum");
      const start = indep ? 0 : hist;
      let end: number;
      if (raw) {
        out.set(data, start);
        end = start + size;
      } else end = decodeBlock(data, out, start, start + max, bat + 4);
      if (end > start) yield out.slice(start, end);
      if (!indep) {
        // Keep the last 64 KiB of output as history for the next block.
        const keep = Math.min(HISTORY, end);
        out.copyWithin(0, end - keep, end);
        hist = keep;
      }
    }
    if (contentSum) await p.take(4, "the content checksum");
  }
  if (frames === 0) throw new TruncatedInputError("lz4: the stream holds no frame");
}
