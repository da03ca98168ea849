/**
 * A ByteSource backed by a file descriptor: reads go to the file at their offset, so a multi-GiB
 * core or pages file is never held in memory.
 */
import { closeSync, fstatSync, readSync } from "node:fs";
import { UsageError } from "../core/errors.ts";
import { type ByteSource, checkRange } from "../core/source.ts";
import { openInput } from "./files.ts";

export interface FileByteSource extends ByteSource {
  readonly path: string;
  close(): void;
}

/** Opens `path` for random access. Call close() when done (or use withFileSource). */
export function openFileSource(path: string): FileByteSource {
  const fd = openInput(path);
  let size: number;
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new UsageError("is a directory", { input: path });
    if (!st.isFile()) throw new UsageError("not a regular file (random access needs one)", { input: path });
    size = st.size;
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  let open = true;
  /** Fills out[0, length) from the file at `offset`. */
  const fill = (out: Uint8Array, offset: number, length: number): void => {
    if (!open) throw new UsageError("file source is closed", { input: path });
    checkRange(size, offset, length);
    let done = 0;
    while (done < length) {
      const n = readSync(fd, out, done, length - done, offset + done);
      if (n === 0) {
        throw new UsageError(`file shrank while being read (short read at offset ${offset + done})`, {
          input: path,
          offset: offset + done,
        });
      }
      done += n;
    }
  };
  // readView's buffer: one large read per call straight into it (pread), no allocation once grown.
  let view = new Uint8Array(0);
  return {
    path,
    size,
    read(offset: number, length: number): Uint8Array {
      checkRange(size, offset, length);
      const out = new Uint8Array(length);
      fill(out, offset, length);
      return out;
    },
    readView(offset: number, length: number): Uint8Array {
      checkRange(size, offset, length);
      if (view.length < length) view = new Uint8Array(Math.max(length, 1 << 16));
      fill(view, offset, length);
      return view.subarray(0, length);
    },
    close(): void {
      if (open) {
        open = false;
        closeSync(fd);
      }
    },
  };
}

/** Runs `fn` with the file open as a ByteSource and closes it afterwards. */
export function withFileSource<T>(path: string, fn: (src: FileByteSource) => T): T {
  const src = openFileSource(path);
  try {
    return fn(src);
  } finally {
    src.close();
  }
}
