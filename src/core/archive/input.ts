/**
 * What a stream holds, told by its first bytes (profiles/formats.ts), looking inside compressed
 * data: a checkpoint archive (a tar, plain or compressed), a core (an ELF file, compressed or not),
 * or something else. The stream handed back replays what was read, so a pipe is read only once.
 */
import { InvalidDataError } from "../errors.ts";
import { detectFormat, HEAD_BYTES, type InputFormat } from "../profiles/formats.ts";
import { type Compression, decompress } from "./compression.ts";
import { type ByteStream, concat, resume } from "./streams.ts";

export type StreamInputKind = "checkpoint-archive" | "core" | "other";

export interface SniffedStream {
  kind: StreamInputKind;
  compression: Compression | "none";
  /** The format of the (decompressed) bytes, where the format table knows it. */
  format: InputFormat | undefined;
  /** The input's bytes from the start, as read (compressed), replaying what the sniff read. */
  stream: ByteStream;
}

/** Most compressed bytes read while looking for the first decompressed bytes. */
const MAX_SNIFF_READ = 64 << 20;

/** A stream that replays `seen` and then continues with `rest`. */
function replay(seen: Uint8Array[], rest: AsyncIterator<Uint8Array>): ByteStream {
  return { [Symbol.asyncIterator]: () => resume(seen, rest) };
}

/** Reads up to `n` bytes of `it` (fewer at its end), keeping every chunk read in `seen`. */
async function headOf(it: AsyncIterator<Uint8Array>, n: number, seen: Uint8Array[]): Promise<Uint8Array> {
  let got = 0;
  while (got < n) {
    const r = await it.next();
    if (r.done) break;
    seen.push(r.value);
    got += r.value.length;
  }
  return concat(seen).subarray(0, n);
}

export function kindOf(format: InputFormat | undefined): StreamInputKind {
  if (format?.id === "tar") return "checkpoint-archive";
  if (format?.id === "elf-core" || format?.id === "elf") return "core";
  return "other";
}

/** Looks at a stream's first bytes, and inside them when they are compressed. */
export async function sniffStream(src: ByteStream): Promise<SniffedStream> {
  const it = src[Symbol.asyncIterator]();
  const seen: Uint8Array[] = [];
  const head = await headOf(it, HEAD_BYTES, seen);
  if (head.length === 0) throw new InvalidDataError("the input is empty");
  const outer = detectFormat(head);
  if (outer?.kind !== "compressed") {
    return { kind: kindOf(outer), compression: "none", format: outer, stream: replay(seen, it) };
  }
  const compression = outer.id as Compression;
  // Decompress just enough for the inner head; every compressed chunk read is kept for the replay.
  const kept = [...seen];
  let read = 0;
  const inner = decompress(compression, {
    async *[Symbol.asyncIterator]() {
      yield* seen;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        read += r.value.length;
        if (read > MAX_SNIFF_READ)
          throw new InvalidDataError(
            `${compression}: no data in the first ${MAX_SNIFF_READ} compressed bytes`,
          );
        kept.push(r.value);
        yield r.value;
      }
    },
  })[Symbol.asyncIterator]();
  const innerHead = await headOf(inner, HEAD_BYTES, []);
  await inner.return?.(undefined);
  const format = detectFormat(innerHead);
  return { kind: kindOf(format), compression, format, stream: replay(kept, it) };
}
