/**
 * Compressed inputs, recognised by their first bytes (never by file name): gzip, zstd, xz and lz4
 * frames, as Podman exports checkpoints (zstd by default, gzip on request) and systemd-coredump
 * stores cores (zstd, lz4, xz). Each decoder is a stream transform with bounded memory.
 *
 * Libraries (pure JS or WebAssembly, so the browser build of core decodes the same way):
 * gzip `fflate` (streaming inflate, pure JS), zstd `zstddec` (libzstd in WebAssembly, driven by
 * `zstd.ts`), xz `xz-decompress` (xz-embedded in WebAssembly), lz4 `lz4.ts` (no maintained
 * streaming frame decoder exists on npm).
 */
import { isSigframeError } from "../errors.ts";
import {
  type ByteStream,
  codecError,
  fromWebReadable,
  lazyStream,
  toWebReadable,
  type WebReadable,
} from "./streams.ts";

export type Compression = "gzip" | "zstd" | "xz" | "lz4";

/** Magic bytes of each compression format. */
export const COMPRESSION_MAGICS: readonly { format: Compression; magic: readonly number[] }[] = [
  { format: "gzip", magic: [0x1f, 0x8b] },
  { format: "zstd", magic: [0x28, 0xb5, 0x2f, 0xfd] },
  { format: "xz", magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00] },
  { format: "lz4", magic: [0x04, 0x22, 0x4d, 0x18] },
];

/** The compression the first bytes announce, if any. */
export function sniffCompression(head: Uint8Array): Compression | undefined {
  for (const c of COMPRESSION_MAGICS) if (c.magic.every((b, i) => head[i] === b)) return c.format;
  // A zstd skippable frame (0x184D2A5?) may start a zstd stream (pzstd writes one first).
  if (
    head.length >= 4 &&
    (head[0]! & 0xf0) === 0x50 &&
    head[1] === 0x2a &&
    head[2] === 0x4d &&
    head[3] === 0x18
  )
    return "zstd";
  return undefined;
}

/** Compressed bytes given to the gzip decoder at a time. */
const GZIP_SLICE = 4096;

async function* gunzip(src: ByteStream): AsyncGenerator<Uint8Array> {
  const { Gunzip } = await import("fflate");
  const out: Uint8Array[] = [];
  const g = new Gunzip((chunk) => {
    out.push(chunk);
  });
  let fed = 0;
  try {
    for await (const c of src) {
      // fflate inflates all of a pushed chunk at once: fed in small slices, what waits to be read
      // stays under GZIP_SLICE × deflate's largest ratio (1032:1), whatever the chunk size.
      for (let at = 0; at < c.length; at += GZIP_SLICE) {
        const part = c.subarray(at, at + GZIP_SLICE);
        fed += part.length;
        g.push(part, false);
        while (out.length) yield out.shift()!;
      }
    }
    g.push(new Uint8Array(0), true);
    while (out.length) yield out.shift()!;
  } catch (e) {
    const err = codecError(e, "gzip");
    if (isSigframeError(err)) err.locate({ offset: fed });
    throw err;
  }
}

type XzCtor = new (s: WebReadable<Uint8Array>) => WebReadable<Uint8Array>;

async function* unxz(src: ByteStream): AsyncGenerator<Uint8Array> {
  // A UMD module: its export is a property of the default export under Node, a named one in bundles.
  const m = (await import("xz-decompress")) as unknown as {
    XzReadableStream?: XzCtor;
    default?: { XzReadableStream?: XzCtor };
  };
  const Xz = m.XzReadableStream ?? m.default?.XzReadableStream;
  if (!Xz) throw codecError(new Error("the xz decoder did not load"), "xz");
  const rs = new Xz(toWebReadable(src));
  try {
    for await (const c of fromWebReadable(rs)) yield c;
  } catch (e) {
    throw codecError(e, "xz");
  }
}

/** The decompressed bytes of `src`. */
export function decompress(format: Compression, src: ByteStream): ByteStream {
  switch (format) {
    case "gzip":
      return gunzip(src);
    case "zstd":
      return lazy(() => import("./zstd.ts").then((m) => m.zstdDecompress(src)));
    case "xz":
      return unxz(src);
    case "lz4":
      return lazy(() => import("./lz4.ts").then((m) => m.lz4Decompress(src)));
  }
}

/** A stream whose decoder module is loaded on first read (the CLI loads only what an input needs). */
function lazy(open: () => Promise<ByteStream>): ByteStream {
  return lazyStream(async () => (await open())[Symbol.asyncIterator]());
}
