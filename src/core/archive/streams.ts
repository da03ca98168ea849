/**
 * Byte streams for inputs read in one pass (compressed cores, checkpoint archives): an
 * `AsyncIterable<Uint8Array>` between stages, and the few Web Streams calls the tar and xz readers
 * need. Web Streams exist in Node 20 and in browsers; core is compiled without DOM types, so the
 * part of the API used here is declared below.
 */
import { InvalidDataError, isSigframeError, TruncatedInputError } from "../errors.ts";

export type ByteStream = AsyncIterable<Uint8Array>;

interface ReadResult<T> {
  done: boolean;
  value?: T;
}
export interface WebReader<T> {
  read(): Promise<ReadResult<T>>;
  cancel(reason?: unknown): Promise<void>;
  releaseLock(): void;
}
export interface WebReadable<T> {
  getReader(): WebReader<T>;
  cancel(reason?: unknown): Promise<void>;
  pipeThrough<U>(t: { writable: unknown; readable: WebReadable<U> }): WebReadable<U>;
}
interface PullController<T> {
  enqueue(v: T): void;
  close(): void;
  error(e: unknown): void;
}
type ReadableCtor = new <T>(src: {
  pull(c: PullController<T>): Promise<void> | void;
  cancel?(reason?: unknown): Promise<void> | void;
}) => WebReadable<T>;

function readableCtor(): ReadableCtor {
  const c = (globalThis as unknown as { ReadableStream?: ReadableCtor }).ReadableStream;
  if (!c) throw new InvalidDataError("this JavaScript runtime has no ReadableStream (Web Streams)");
  return c;
}

/**
 * `head`'s chunks, then the rest of `it`. Stopping early (an error downstream, a limit reached)
 * returns `it`, so that what feeds it stops too: a decompressor process, an open file. A plain
 * iterator, not a generator: a chunk of `it` is handed on without another promise round.
 */
export function resume(head: Uint8Array[], it: AsyncIterator<Uint8Array>): AsyncIterableIterator<Uint8Array> {
  let done = false;
  const close = async () => {
    if (done) return;
    done = true;
    await it.return?.();
  };
  const self: AsyncIterableIterator<Uint8Array> = {
    [Symbol.asyncIterator]: () => self,
    async next() {
      if (done) return { done: true, value: undefined };
      // Handed on one by one and dropped (a sniffed head can be many chunks).
      if (head.length > 0) return { done: false, value: head.shift()! };
      let r: IteratorResult<Uint8Array>;
      try {
        r = await it.next();
      } catch (e) {
        await close().catch(() => {});
        throw e;
      }
      if (r.done) done = true;
      return r;
    },
    async return() {
      await close();
      return { done: true, value: undefined };
    },
  };
  return self;
}

/**
 * A stream whose iterator is made on the first read (`open` may read the source's first bytes to
 * decide, or load a decoder module); stopping early returns it.
 */
export function lazyStream(open: () => Promise<AsyncIterator<Uint8Array>>): ByteStream {
  return {
    [Symbol.asyncIterator]() {
      let inner: AsyncIterator<Uint8Array> | undefined;
      let closed = false;
      const self: AsyncIterableIterator<Uint8Array> = {
        [Symbol.asyncIterator]: () => self,
        async next() {
          if (closed) return { done: true, value: undefined };
          inner ??= await open();
          return inner.next();
        },
        async return() {
          closed = true;
          await inner?.return?.();
          return { done: true, value: undefined };
        },
      };
      return self;
    },
  };
}

/** A Web ReadableStream over an async iterable (pull-based: nothing is read ahead). */
export function toWebReadable(src: ByteStream): WebReadable<Uint8Array> {
  const it = src[Symbol.asyncIterator]();
  const Ctor = readableCtor();
  return new Ctor<Uint8Array>({
    async pull(c) {
      try {
        const r = await it.next();
        if (r.done) c.close();
        else c.enqueue(r.value);
      } catch (e) {
        c.error(e);
      }
    },
    async cancel() {
      await it.return?.();
    },
  });
}

/** The chunks of a Web ReadableStream; stopping early cancels it. */
export async function* fromWebReadable<T>(rs: WebReadable<T>): AsyncGenerator<T> {
  const r = rs.getReader();
  let finished = false;
  try {
    for (;;) {
      const { done, value } = await r.read();
      if (done) {
        finished = true;
        return;
      }
      if (value !== undefined) yield value;
    }
  } finally {
    if (!finished) await r.cancel().catch(() => {});
    r.releaseLock();
  }
}

/** One stream of the given bytes, in chunks of at most `chunk` bytes. */
export async function* bytesStream(bytes: Uint8Array, chunk = 1 << 20): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += chunk) yield bytes.subarray(i, Math.min(bytes.length, i + chunk));
}

/** Reads a whole stream, refusing more than `max` bytes (never allocating past it). */
export async function readStream(src: ByteStream, max: number, what: string): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const c of src) {
    n += c.length;
    if (n > max) throw new InvalidDataError(`${what} is larger than the limit of ${max} bytes`);
    parts.push(c.slice());
  }
  return concat(parts, n);
}

export function concat(parts: readonly Uint8Array[], total?: number): Uint8Array {
  const n = total ?? parts.reduce((s, p) => s + p.length, 0);
  if (parts.length === 1 && parts[0]!.length === n) return parts[0]!;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Turns a library's untyped failure into the typed error of bad input (typed errors pass). */
export function codecError(e: unknown, format: string, truncated = false): Error {
  if (isSigframeError(e)) return e;
  const msg = e instanceof Error ? e.message : String(e);
  // xz-embedded's XZ_BUF_ERROR (8): no progress is possible, the input ended early.
  const xzEnd = format === "xz" && /error code 8\b/.test(msg);
  if (xzEnd) truncated = true;
  const text = xzEnd ? "xz: the compressed data ends early" : `${format}: ${msg || "corrupt data"}`;
  return truncated || /unexpected (end|eof)|truncat|incomplete|more data|premature/i.test(msg)
    ? new TruncatedInputError(text)
    : new InvalidDataError(text);
}
