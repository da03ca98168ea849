/**
 * A checkpoint image directory the user picked (a folder input) as the tar stream the core's
 * archive reader takes: what `tar -C DIR -c .` would give, built as it is read. Images and
 * metadata come first and pages-*.img last, so each pagemap is known before its pages and the
 * folder is read once; every file is streamed, never read whole.
 */

import type { ByteStream } from "../../src/core/archive/streams.ts";
import { UsageError } from "../../src/core/errors.ts";

/** A file of the folder: its path under the folder and its bytes as a stream. */
export interface FolderFile {
  path: string;
  size: number;
  stream(): ByteStream;
}

const BLOCK = 512;
/** ustar's size field: 11 octal digits. */
const MAX_MEMBER = 0o77777777777;

function field(h: Uint8Array, at: number, len: number, text: string): void {
  for (let i = 0; i < text.length && i < len; i++) h[at + i] = text.charCodeAt(i);
}

function octal(n: number, digits: number): string {
  return n.toString(8).padStart(digits, "0");
}

/** A ustar header for a regular file. */
export function ustarHeader(name: string, size: number): Uint8Array {
  const bytes = new TextEncoder().encode(name);
  if (bytes.length > 100 || bytes.length === 0)
    throw new UsageError("a file name in the folder is longer than a tar member name can be (100 bytes)", {
      input: name,
    });
  if (!Number.isSafeInteger(size) || size < 0 || size > MAX_MEMBER)
    throw new UsageError(`larger than a tar member can be (${MAX_MEMBER} bytes)`, { input: name });
  const h = new Uint8Array(BLOCK);
  h.set(bytes, 0);
  field(h, 100, 8, "0000644\0");
  field(h, 108, 8, "0000000\0");
  field(h, 116, 8, "0000000\0");
  field(h, 124, 12, `${octal(size, 11)}\0`);
  field(h, 136, 12, `${octal(0, 11)}\0`);
  field(h, 148, 8, "        ");
  h[156] = 0x30; // '0': a regular file
  field(h, 257, 8, "ustar\x0000");
  let sum = 0;
  for (const b of h) sum += b;
  field(h, 148, 8, `${octal(sum, 6)}\0 `);
  return h;
}

/** The files of a picked folder in reading order: pages-*.img last. */
export function folderOrder<T extends { path: string }>(files: readonly T[]): T[] {
  const pages = (f: T) => /(^|\/)pages-\d+\.img$/.test(f.path);
  return [...files.filter((f) => !pages(f)), ...files.filter(pages)];
}

/** The folder as one tar stream; a file that yields more or fewer bytes than its size is refused. */
export async function* folderTar(files: readonly FolderFile[]): AsyncGenerator<Uint8Array> {
  for (const f of folderOrder(files)) {
    yield ustarHeader(f.path, f.size);
    let n = 0;
    for await (const c of f.stream()) {
      n += c.length;
      if (n > f.size)
        throw new UsageError("changed while it was read (longer than its size)", { input: f.path });
      yield c;
    }
    if (n !== f.size)
      throw new UsageError("changed while it was read (shorter than its size)", { input: f.path });
    if (n % BLOCK) yield new Uint8Array(BLOCK - (n % BLOCK));
  }
  yield new Uint8Array(2 * BLOCK);
}
