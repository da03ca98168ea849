/**
 * Inputs read as streams: checkpoint archives and compressed cores (and any core or archive on
 * stdin), recognised by their bytes through the format table (core/profiles/formats.ts), looking
 * inside compressed data (core/archive/input.ts). A file is read in 1 MiB pieces and never held
 * whole; nothing is extracted to disk. A file can be read again (a second pass); stdin cannot.
 */
import { spawn, spawnSync } from "node:child_process";
import { closeSync, createReadStream, openSync, readSync, statSync } from "node:fs";
import { createGunzip } from "node:zlib";
import type { Compression } from "../core/archive/compression.ts";
import { kindOf, type StreamInputKind, sniffStream } from "../core/archive/input.ts";
import type { ByteStream } from "../core/archive/streams.ts";
import { InvalidDataError, isSigframeError, TruncatedInputError, UsageError } from "../core/errors.ts";
import { detectFormat, HEAD_BYTES, type InputFormat } from "../core/profiles/formats.ts";
import { describeFsError } from "./files.ts";

const CHUNK = 1 << 20;

/** The bytes of a file (or stdin for `-`), in order, in new 1 MiB pieces (never reused). */
export async function* fileStream(path: string): AsyncGenerator<Uint8Array> {
  if (path === "-") {
    yield* process.stdin;
    return;
  }
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    throw new UsageError(describeFsError(e), { input: path });
  }
  try {
    for (;;) {
      // Not zero-filled: readSync writes every byte that is handed on.
      const b = Buffer.allocUnsafe(CHUNK);
      let n: number;
      try {
        n = readSync(fd, b, 0, CHUNK, null);
      } catch (e) {
        throw new UsageError(describeFsError(e), { input: path });
      }
      if (n === 0) return;
      yield new Uint8Array(b.buffer, b.byteOffset, n);
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Debian's decompressors, where installed: they decompress a file at native speed in a process of
 * their own, in parallel with the scan (the in-process zstd decoder, libzstd in WebAssembly, is
 * some four times slower). gzip has Node's zlib. SIGFRAME_DECOMPRESS=in-process keeps to the
 * core's decoders (the ones the browser runs).
 */
const DECOMPRESSORS: Partial<Record<Compression, string>> = { zstd: "zstd", xz: "xz", lz4: "lz4" };
const installed = new Map<string, boolean>();

function nativeDecompressor(c: Compression): string | undefined {
  if (process.env.SIGFRAME_DECOMPRESS === "in-process") return undefined;
  const tool = DECOMPRESSORS[c];
  if (!tool) return undefined;
  if (!installed.has(tool)) {
    const r = spawnSync(tool, ["--version"], { stdio: "ignore", timeout: 5000 });
    installed.set(tool, !r.error && r.status === 0);
  }
  return installed.get(tool) ? tool : undefined;
}

/** A decompressor's output for a file; its failure is the input's one-line error. */
async function* decompressedBy(tool: string, c: Compression, path: string): AsyncGenerator<Uint8Array> {
  const child = spawn(tool, ["-dcq", "--", path], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (d: string) => {
    if (stderr.length < 4096) stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  const failed = new Promise<Error>((resolve) => child.on("error", resolve));
  let finished = false;
  try {
    yield* child.stdout;
    const code = await Promise.race([exited, failed]);
    finished = true;
    if (code instanceof Error) throw new UsageError(`${tool}: ${code.message}`, { input: path });
    if (code !== 0) {
      const line = stderr.split("\n").find((l) => l.trim()) ?? `exit ${code}`;
      const why = line
        .replace(/^[^:]*:\s*/, "")
        .replace(path, "")
        .replace(/^[:\s]+/, "");
      const truncated = /unexpected end|premature|truncat|incomplete|end of file/i.test(why);
      throw truncated
        ? new TruncatedInputError(`${c}: the compressed data ends early (${why})`, { input: path })
        : new InvalidDataError(`${c}: corrupt or unsupported data (${why})`, { input: path });
    }
  } finally {
    if (!finished) child.kill();
  }
}

/** A gzip file through Node's zlib (native), with zlib's failures as the input's one-line error. */
async function* gunzipped(path: string): AsyncGenerator<Uint8Array> {
  const file = createReadStream(path, { highWaterMark: CHUNK });
  const gz = createGunzip({ chunkSize: CHUNK });
  file.on("error", (e) => gz.destroy(e));
  try {
    yield* file.pipe(gz);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw /unexpected end|truncat/i.test(msg)
      ? new TruncatedInputError(`gzip: the compressed data ends early (${msg})`, { input: path })
      : new InvalidDataError(`gzip: corrupt data (${msg})`, { input: path });
  } finally {
    file.destroy();
    gz.destroy();
  }
}

/** The decompressed bytes of a compressed file: natively where a tool is installed, else undefined. */
function nativeStream(c: Compression, path: string): ByteStream | undefined {
  if (c === "gzip") return gunzipped(path);
  const tool = nativeDecompressor(c);
  return tool ? decompressedBy(tool, c, path) : undefined;
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
  let sniffed: Awaited<ReturnType<typeof sniffStream>>;
  try {
    sniffed = await sniffStream(fileStream(path));
  } catch (e) {
    if (isSigframeError(e) && e.input === undefined) e.input = path;
    throw e;
  }
  // A file's compressed data: decoded natively where a tool is installed (a stream the core then
  // passes through as it is), the sniffed stream replayed otherwise.
  const native =
    path !== "-" && sniffed.compression !== "none"
      ? () => nativeStream(sniffed.compression as Compression, path)
      : undefined;
  let once: ByteStream | undefined = sniffed.stream;
  const first = native?.();
  if (first) {
    await sniffed.stream[Symbol.asyncIterator]().return?.(undefined);
    once = first;
  }
  return {
    kind: sniffed.kind,
    compression: sniffed.compression,
    format: sniffed.format,
    reopenable: path !== "-",
    open: () => {
      const s = once ?? (path === "-" ? undefined : (native?.() ?? fileStream(path)));
      once = undefined;
      if (!s) throw new UsageError("stdin cannot be read twice: give a file", { input: "-" });
      return s;
    },
  };
}
