/**
 * Zstandard decoding, streamed: libzstd's own decoder compiled to WebAssembly (the `zstddec`
 * package), driven frame by frame with `ZSTD_decompressStream` through a fixed input and output
 * buffer, so memory stays bounded whatever the stream's size. The window a frame may ask for is
 * libzstd's default limit (2^27 bytes); larger windows are refused by the decoder.
 *
 * zstddec's own streaming loop stops when its input is consumed, even while the decoder still holds
 * output, and does not check for errors; this driver calls the same exports and does both.
 */
import { ZSTDDecoder } from "zstddec/stream";
import { InvalidDataError, TruncatedInputError } from "../errors.ts";
import type { ByteStream } from "./streams.ts";

interface ZstdExports {
  memory: { buffer: ArrayBuffer };
  malloc(n: number): number;
  free(p: number): void;
  ZSTD_createDCtx(): number;
  ZSTD_freeDCtx(p: number): number;
  ZSTD_decompressStream(dctx: number, out: number, inp: number): number;
}

let loading: Promise<ZstdExports> | undefined;

/** The WebAssembly instance zstddec loads once (its `_init` hook hands it over). */
function zstdExports(): Promise<ZstdExports> {
  if (!loading) {
    const d = new ZSTDDecoder() as ZSTDDecoder & { _init(r: { instance: { exports: unknown } }): void };
    let exp: ZstdExports | undefined;
    const init = d._init;
    d._init = (r) => {
      exp = r.instance.exports as ZstdExports;
      init.call(d, r as never);
    };
    loading = d.init().then(() => {
      if (!exp) throw new InvalidDataError("zstd: the WebAssembly decoder did not load");
      return exp;
    });
  }
  return loading;
}

const IN_SIZE = 1 << 17;
const OUT_SIZE = 1 << 20;
/** size_t results above this are libzstd error codes (ZSTD_isError). */
const ERROR_THRESHOLD = 0xffffff00;

/** Decompresses a zstd stream (one or more frames, skippable frames included). */
export async function* zstdDecompress(src: ByteStream): AsyncGenerator<Uint8Array> {
  const x = await zstdExports();
  const dctx = x.ZSTD_createDCtx();
  const inPtr = x.malloc(IN_SIZE);
  const outPtr = x.malloc(OUT_SIZE);
  const inBuf = x.malloc(12);
  const outBuf = x.malloc(12);
  if (!dctx || !inPtr || !outPtr || !inBuf || !outBuf) throw new InvalidDataError("zstd: out of memory");
  let consumed = 0;
  try {
    // 0 when the last frame is complete; libzstd's hint of the bytes it still needs otherwise.
    let pending = 0;
    let any = false;
    for await (const chunk of src) {
      for (let at = 0; at < chunk.length; ) {
        const n = Math.min(IN_SIZE, chunk.length - at);
        new Uint8Array(x.memory.buffer, inPtr, n).set(chunk.subarray(at, at + n));
        at += n;
        let dv = new DataView(x.memory.buffer);
        dv.setUint32(inBuf, inPtr, true);
        dv.setUint32(inBuf + 4, n, true);
        dv.setUint32(inBuf + 8, 0, true);
        for (;;) {
          dv.setUint32(outBuf, outPtr, true);
          dv.setUint32(outBuf + 4, OUT_SIZE, true);
          dv.setUint32(outBuf + 8, 0, true);
          const ret = x.ZSTD_decompressStream(dctx, outBuf, inBuf) >>> 0;
          dv = new DataView(x.memory.buffer);
          if (ret > ERROR_THRESHOLD)
            throw new InvalidDataError(
              `zstd: corrupt or unsupported data (libzstd error ${0x100000000 - ret}) in the compressed bytes before offset ${consumed + dv.getUint32(inBuf + 8, true)}`,
              { offset: consumed + dv.getUint32(inBuf + 8, true) },
            );
          pending = ret;
          any = true;
          const produced = dv.getUint32(outBuf + 8, true);
          if (produced > 0) yield new Uint8Array(x.memory.buffer, outPtr, produced).slice();
          const inPos = dv.getUint32(inBuf + 8, true);
          // Call again while input remains or the output buffer came back full (more to flush).
          if (inPos >= n && produced < OUT_SIZE) break;
          dv = new DataView(x.memory.buffer);
        }
        consumed += n;
      }
    }
    if (!any) throw new TruncatedInputError("zstd: the stream is empty");
    if (pending !== 0)
      throw new TruncatedInputError(
        `zstd: the stream ends inside a frame (after ${consumed} compressed bytes)`,
        {
          offset: consumed,
        },
      );
  } finally {
    x.free(outBuf);
    x.free(inBuf);
    x.free(outPtr);
    x.free(inPtr);
    x.ZSTD_freeDCtx(dctx);
  }
}
