/**
 * The kernel image abi-test hands to QEMU. A bzImage makes the emulated CPU decompress the kernel
 * first (some 8 s under TCG for a distribution kernel); the decompressed ELF, booted through its
 * PVH entry point, starts at once. So the payload is decompressed here (the project's own gzip, xz
 * and zstd decoders; the system's xz, zstd, … where those cannot: the kernel's xz uses the x86
 * BCJ filter), kept in the cache directory under the image's hash (the last few only), and used
 * when it has the PVH note; anything else boots as the bzImage it is.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { decompress } from "../core/archive/compression.ts";
import { bytesStream } from "../core/archive/streams.ts";
import { type BzImage, hasPvhNote, parseBzImage } from "../core/bzimage.ts";
import { isSigframeError } from "../core/errors.ts";

export interface BootImage {
  /** What QEMU's -kernel gets. */
  path: string;
  how: "pvh" | "bzimage";
  /** Why the bzImage is booted as it is, where it is. */
  note?: string;
  /** The image's own version string. */
  version?: string;
}

/** Decompressed kernels kept in the cache. */
const KEEP = 3;

/** The ELF's program headers and note segments, read from the file (enough for hasPvhNote). */
function elfHead(path: string): Uint8Array {
  const fd = openSync(path, "r");
  try {
    const size = statSync(path).size;
    const head = new Uint8Array(Math.min(size, 64 * 1024));
    readSync(fd, head, 0, head.length, 0);
    if (head.length < 64) return head;
    const dv = new DataView(head.buffer);
    const phoff = Number(dv.getBigUint64(0x20, true));
    const phnum = dv.getUint16(0x38, true);
    const phentsize = dv.getUint16(0x36, true);
    let end = head.length;
    for (let i = 0; i < phnum; i++) {
      const ph = phoff + i * phentsize;
      if (ph + 56 > head.length || dv.getUint32(ph, true) !== 4) continue;
      end = Math.max(end, Number(dv.getBigUint64(ph + 8, true) + dv.getBigUint64(ph + 32, true)));
    }
    end = Math.min(end, size, 256 * 1024 * 1024);
    if (end <= head.length) return head;
    const all = new Uint8Array(end);
    readSync(fd, all, 0, end, 0);
    return all;
  } finally {
    closeSync(fd);
  }
}

/** The system tools that decompress each payload format (Debian: xz-utils, zstd, gzip, …). */
const TOOLS: Partial<Record<BzImage["compression"], string[]>> = {
  gzip: ["gzip", "-dc"],
  bzip2: ["bzip2", "-dc"],
  lzma: ["xz", "--format=lzma", "-dc"],
  xz: ["xz", "-dc"],
  lzo: ["lzop", "-dc"],
  lz4: ["lz4", "-dc"],
  zstd: ["zstd", "-dc"],
};

function decompressWithTool(img: BzImage, out: string): void {
  const tool = TOOLS[img.compression];
  if (!tool) throw new Error(`no decoder for ${img.compression}`);
  const r = spawnSync(tool[0]!, tool.slice(1), {
    input: img.payload,
    maxBuffer: img.decompressedSize + (1 << 20),
    timeout: 120_000,
  });
  if (r.error || r.status !== 0 || r.stdout.length !== img.decompressedSize) {
    const why =
      r.error?.message ??
      (r.stderr.toString().trim() || `${r.stdout.length} bytes, not ${img.decompressedSize}`);
    throw new Error(`${tool[0]}: ${why}`);
  }
  const tmp = `${out}.${process.pid}.tmp`;
  writeFileSync(tmp, r.stdout);
  renameSync(tmp, out);
}

async function decompressTo(img: BzImage, out: string): Promise<void> {
  const tmp = `${out}.${process.pid}.tmp`;
  const fd = openSync(tmp, "w");
  let n = 0;
  try {
    for await (const chunk of decompress(
      img.compression as "gzip" | "xz" | "zstd",
      bytesStream(img.payload),
    )) {
      writeSync(fd, chunk);
      n += chunk.length;
      if (n > img.decompressedSize + (1 << 20)) throw new Error("more bytes than the image announces");
    }
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, out);
}

/** Drops all but the most recently used decompressed kernels. */
function prune(cache: string): void {
  const files = readdirSync(cache)
    .filter((f) => /^vmlinux-[0-9a-f]+\.elf$/.test(f))
    .map((f) => ({ f, t: statSync(join(cache, f)).mtimeMs }))
    .sort((a, b) => b.t - a.t);
  for (const { f } of files.slice(KEEP)) rmSync(join(cache, f), { force: true });
}

export async function bootImage(path: string, cache: string): Promise<BootImage> {
  const bytes = readFileSync(path);
  const img = parseBzImage(bytes);
  const base: BootImage = { path, how: "bzimage" };
  if (img.version) base.version = img.version;
  if (img.compression === "unknown")
    return { ...base, note: "its payload's compression is unknown: booted as a bzImage" };
  const hash = createHash("sha256").update(bytes).digest("hex").slice(0, 16);
  const elf = join(cache, `vmlinux-${hash}.elf`);
  if (!existsSync(elf)) {
    try {
      if (!["gzip", "xz", "zstd"].includes(img.compression)) throw new Error("no decoder of our own");
      await decompressTo(img, elf);
    } catch (ours) {
      try {
        decompressWithTool(img, elf);
      } catch (e) {
        const why = (x: unknown) => (isSigframeError(x) || x instanceof Error ? x.message : String(x));
        return {
          ...base,
          note: `its ${img.compression} payload did not decompress (${why(ours)}; ${why(e)}): booted as a bzImage`,
        };
      }
    }
    prune(cache);
  } else {
    const now = new Date();
    utimesSync(elf, now, now);
  }
  if (!hasPvhNote(elfHead(elf)))
    return { ...base, note: "its ELF has no PVH entry note: booted as a bzImage" };
  return { ...base, path: elf, how: "pvh" };
}
