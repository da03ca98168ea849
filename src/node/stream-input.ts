/**
 * Inputs read as streams: checkpoint archives and compressed cores, recognised by their bytes
 * (compression magic, then `ustar` or the ELF magic inside). A file is read in 1 MiB pieces and
 * never held whole; nothing is extracted to disk.
 */
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { uncompressed } from "../core/archive/checkpoint.ts";
import { sniffCompression } from "../core/archive/compression.ts";
import { UsageError } from "../core/errors.ts";
import { describeFsError } from "./files.ts";

const CHUNK = 1 << 20;

/** The bytes of a file (or stdin for `-`), in order. */
export async function* fileStream(path: string): AsyncGenerator<Uint8Array> {
  let fd: number;
  try {
    fd = path === "-" ? 0 : openSync(path, "r");
  } catch (e) {
    throw new UsageError(describeFsError(e), { input: path });
  }
  try {
    for (;;) {
      const b = new Uint8Array(CHUNK);
      let n: number;
      try {
        n = readSync(fd, b, 0, CHUNK, null);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "EAGAIN") {
          await new Promise((r) => setTimeout(r, 5));
          continue;
        }
        if (code === "EOF") return;
        throw new UsageError(describeFsError(e), { input: path });
      }
      if (n === 0) return;
      yield n === CHUNK ? b : b.subarray(0, n);
    }
  } finally {
    if (path !== "-") closeSync(fd);
  }
}

export type StreamKind = "archive" | "compressed-core";

/** The first bytes of a file (fewer if it is shorter). */
function head(path: string, n: number): Uint8Array {
  const fd = openSync(path, "r");
  try {
    const b = new Uint8Array(n);
    const got = readSync(fd, b, 0, n, 0);
    return b.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

const ELF = [0x7f, 0x45, 0x4c, 0x46];
const isUstar = (b: Uint8Array) =>
  b.length >= 262 &&
  b[257] === 0x75 &&
  b[258] === 0x73 &&
  b[259] === 0x74 &&
  b[260] === 0x61 &&
  b[261] === 0x72;

/**
 * Whether a file is read as a stream, and as what: a tar (compressed or not) is an archive, a
 * compressed ELF file a compressed core. Undefined for anything else (a directory, a plain core).
 */
export async function streamKind(path: string): Promise<StreamKind | undefined> {
  try {
    if (statSync(path).isDirectory()) return undefined;
  } catch (e) {
    throw new UsageError(describeFsError(e), { input: path });
  }
  const h = head(path, 512);
  if (isUstar(h)) return "archive";
  if (!sniffCompression(h)) return undefined;
  // Look inside: the first decompressed bytes say tar or ELF.
  const it = uncompressed(fileStream(path))[Symbol.asyncIterator]();
  try {
    let got = new Uint8Array(0);
    while (got.length < 512) {
      const r = await it.next();
      if (r.done) break;
      const n = new Uint8Array(got.length + r.value.length);
      n.set(got);
      n.set(r.value, got.length);
      got = n;
    }
    if (ELF.every((b, i) => got[i] === b)) return "compressed-core";
    if (isUstar(got)) return "archive";
    throw new UsageError(
      "a compressed file that holds neither a tar archive (a checkpoint) nor an ELF core",
      { input: path },
    );
  } finally {
    await it.return?.(undefined);
  }
}
