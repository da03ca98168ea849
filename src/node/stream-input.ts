/**
 * Inputs read as streams: checkpoint archives and compressed cores (and any core or archive on
 * stdin), recognised by their bytes through the format table (core/profiles/formats.ts), looking
 * inside compressed data (core/archive/input.ts). A file is read in 1 MiB pieces and never held
 * whole; nothing is extracted to disk. A file can be read again (a second pass); stdin cannot.
 */
import { closeSync, openSync, readSync, statSync } from "node:fs";
import type { Compression } from "../core/archive/compression.ts";
import { kindOf, type StreamInputKind, sniffStream } from "../core/archive/input.ts";
import type { ByteStream } from "../core/archive/streams.ts";
import { UsageError } from "../core/errors.ts";
import { detectFormat, HEAD_BYTES, type InputFormat } from "../core/profiles/formats.ts";
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

export interface StreamInput {
  kind: StreamInputKind;
  compression: Compression | "none";
  /** The format of the (decompressed) bytes, where the format table knows it. */
  format: InputFormat | undefined;
  /** The input's bytes from the start (compressed as stored). */
  open(): ByteStream;
  /** `open` may be called again (a file, not stdin). */
  reopenable: boolean;
}

/** The first bytes of a file (fewer if it is shorter). */
function head(path: string, n: number): Uint8Array {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    throw new UsageError(describeFsError(e), { input: path });
  }
  try {
    const b = new Uint8Array(n);
    const got = readSync(fd, b, 0, n, 0);
    return b.subarray(0, got);
  } catch (e) {
    throw new UsageError(describeFsError(e), { input: path });
  } finally {
    closeSync(fd);
  }
}

/**
 * What a file or stdin holds, by its bytes; undefined for a directory. A plain file is told from
 * its head without streaming; compressed data and stdin are sniffed as streams.
 */
export async function openStreamInput(path: string): Promise<StreamInput | undefined> {
  if (path !== "-") {
    try {
      if (statSync(path).isDirectory()) return undefined;
    } catch (e) {
      throw new UsageError(describeFsError(e), { input: path });
    }
    const format = detectFormat(head(path, HEAD_BYTES));
    if (format?.kind !== "compressed")
      return {
        kind: kindOf(format),
        compression: "none",
        format,
        open: () => fileStream(path),
        reopenable: true,
      };
  }
  const sniffed = await sniffStream(fileStream(path));
  // The first open replays what the sniff read; a file is opened afresh after that.
  let once: ByteStream | undefined = sniffed.stream;
  return {
    kind: sniffed.kind,
    compression: sniffed.compression,
    format: sniffed.format,
    reopenable: path !== "-",
    open: () => {
      const s = once ?? (path === "-" ? undefined : fileStream(path));
      once = undefined;
      if (!s) throw new UsageError("stdin cannot be read twice: give a file", { input: "-" });
      return s;
    },
  };
}
