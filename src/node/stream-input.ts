/**
 * Inputs read as streams: checkpoint archives and compressed cores (and any core or archive on
 * stdin), recognised by their bytes through the format table (core/profiles/formats.ts), looking
 * inside compressed data (core/archive/input.ts). A file is read in 1 MiB pieces and never held
 * whole; nothing is extracted to disk. A file can be read again (a second pass); stdin cannot.
 */
import { type ChildProcessByStdio, spawn } from "node:child_process";
import { accessSync, closeSync, constants, createReadStream, readSync, statSync } from "node:fs";
import { delimiter, join } from "node:path";
import type { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import type { Compression } from "../core/archive/compression.ts";
import { kindOf, type StreamInputKind, sniffStream } from "../core/archive/input.ts";
import type { ByteStream } from "../core/archive/streams.ts";
import { InvalidDataError, isSigframeError, TruncatedInputError, UsageError } from "../core/errors.ts";
import { detectFormat, HEAD_BYTES, type InputFormat } from "../core/profiles/formats.ts";
import { describeFsError, openInput, readHead } from "./files.ts";

const CHUNK = 1 << 20;

/** The bytes of a file (or stdin for `-`), in order, in new 1 MiB pieces (never reused). */
export async function* fileStream(path: string): AsyncGenerator<Uint8Array> {
  if (path === "-") {
    yield* process.stdin;
    return;
  }
  const fd = openInput(path);
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

/** Whether an executable of that name is on PATH (looked up, not run: a process start costs more). */
function onPath(tool: string): boolean {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, tool), constants.X_OK);
      return true;
    } catch {}
  }
  return false;
}

function nativeDecompressor(c: Compression): string | undefined {
  if (process.env.SIGFRAME_DECOMPRESS === "in-process") return undefined;
  const tool = DECOMPRESSORS[c];
  if (!tool) return undefined;
  if (!installed.has(tool)) installed.set(tool, onPath(tool));
  return installed.get(tool) ? tool : undefined;
}

/**
 * Decompressed bytes a decompressor may run ahead of the reader: it works in parallel with the scan
 * and is paused (its pipe left full) only when this much is waiting.
 */
const READ_AHEAD = 16 << 20;

/** A decompressor's output for a file; its failure is the input's one-line error. */
function decompressedBy(tool: string, c: Compression, path: string): ByteStream {
  return { [Symbol.asyncIterator]: () => childOutput(tool, c, path) };
}

/**
 * The decompressor's stdout as a plain iterator (no stream adapter, no generator): its chunks are
 * queued as they arrive (flowing, up to READ_AHEAD) and handed on as they are. The process is
 * started on the first read; stopping early kills it and waits for it to end.
 */
function childOutput(tool: string, c: Compression, path: string): AsyncIterableIterator<Uint8Array> {
  let child: ChildProcessByStdio<null, Readable, Readable> | undefined;
  let closed: Promise<number | null | Error> = Promise.resolve(null);
  const queue: (Uint8Array | undefined)[] = [];
  let head = 0;
  let queued = 0;
  let paused = false;
  let outEnded = false;
  let finished = false;
  let wake: (() => void) | undefined;
  let stderr = "";
  const poke = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const start = () => {
    const p = spawn(tool, ["-dcq", "--", path], { stdio: ["ignore", "pipe", "pipe"] });
    child = p;
    p.stderr.setEncoding("utf8");
    p.stderr.on("data", (d: string) => {
      if (stderr.length < 4096) stderr += d;
    });
    p.stdout.on("data", (b: Buffer) => {
      queue.push(new Uint8Array(b.buffer, b.byteOffset, b.length));
      queued += b.length;
      if (queued >= READ_AHEAD && !paused) {
        paused = true;
        p.stdout.pause();
      }
      poke();
    });
    p.stdout.on("end", () => {
      outEnded = true;
      poke();
    });
    closed = new Promise((resolve) => {
      p.on("close", (code) => resolve(code));
      p.on("error", (e) => {
        outEnded = true;
        resolve(e);
        poke();
      });
    });
  };
  const failure = (code: number | null | Error): Error | undefined => {
    if (code instanceof Error) return new UsageError(`${tool}: ${code.message}`, { input: path });
    if (code === 0) return undefined;
    const line = stderr.split("\n").find((l) => l.trim()) ?? `exit ${code}`;
    const why = line
      .replace(/^[^:]*:\s*/, "")
      .replace(path, "")
      .replace(/^[:\s]+/, "");
    const truncated = /unexpected end|premature|truncat|incomplete|end of file/i.test(why);
    return truncated
      ? new TruncatedInputError(`${c}: the compressed data ends early (${why})`, { input: path })
      : new InvalidDataError(`${c}: corrupt or unsupported data (${why})`, { input: path });
  };
  const self: AsyncIterableIterator<Uint8Array> = {
    [Symbol.asyncIterator]: () => self,
    async next() {
      if (finished) return { done: true, value: undefined };
      if (!child) start();
      while (head >= queue.length && !outEnded) await new Promise<void>((r) => (wake = r));
      if (head < queue.length) {
        const b = queue[head]!;
        queue[head++] = undefined;
        if (head > 1024 && head * 2 > queue.length) {
          queue.splice(0, head);
          head = 0;
        }
        queued -= b.length;
        if (paused && queued < READ_AHEAD / 2) {
          paused = false;
          child!.stdout.resume();
        }
        return { done: false, value: b };
      }
      const code = await closed;
      finished = true;
      const err = failure(code);
      if (err) throw err;
      return { done: true, value: undefined };
    },
    async return() {
      if (!finished && child) {
        finished = true;
        child.kill();
        // A paused stdout never ends, and the process is not 'close'd until it does.
        child.stdout.destroy();
        await closed;
      }
      finished = true;
      return { done: true, value: undefined };
    },
  };
  return self;
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

/**
 * What a file or stdin holds, by its bytes; undefined for a directory. A plain file is told from
 * its head without streaming; compressed data and stdin are sniffed as streams.
 */
export async function openStreamInput(path: string): Promise<StreamInput | undefined> {
  let compression: Compression | undefined;
  if (path !== "-") {
    try {
      if (statSync(path).isDirectory()) return undefined;
    } catch (e) {
      throw new UsageError(describeFsError(e), { input: path });
    }
    const format = detectFormat(readHead(path, HEAD_BYTES));
    if (format?.kind !== "compressed")
      return {
        kind: kindOf(format),
        compression: "none",
        format,
        open: () => fileStream(path),
        reopenable: true,
      };
    compression = format.id as Compression;
  }
  // A file's compressed data is decoded natively where a tool is installed, and told by the tool's
  // first bytes of output (the core's in-process decoders are not even loaded); that process is
  // ended once the head is read (a caller may refuse the input without reading it), and `open`
  // starts another. The core's decoders otherwise, and for stdin.
  const native = compression ? () => nativeStream(compression, path) : undefined;
  const first = native?.();
  let sniffed: Awaited<ReturnType<typeof sniffStream>>;
  try {
    sniffed = await sniffStream(first ?? fileStream(path));
  } catch (e) {
    if (isSigframeError(e) && e.input === undefined) e.input = path;
    throw e;
  }
  let once: ByteStream | undefined = sniffed.stream;
  if (first && compression) {
    await sniffed.stream[Symbol.asyncIterator]().return?.(undefined);
    sniffed.compression = compression;
    once = undefined;
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
