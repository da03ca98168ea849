/**
 * Checkpoint archives as Podman, CRI-O and the kubelet write them, read in one pass: a tar (plain,
 * gzip or zstd) with the CRIU images under `checkpoint/` beside `config.dump`, `spec.dump`,
 * `dump.log` and the rest (checkpointctl's lib/metadata.go layout); a pod archive holds one such
 * directory per container; a tar of a bare image directory is read too. The small images and
 * metadata files are kept in memory (each capped); a `pages-*.img` file is handed to the caller as
 * a stream (to scan) or skipped, never held whole. Nothing is written to disk.
 */
import { InvalidDataError } from "../errors.ts";
import { type Compression, decompress, sniffCompression } from "./compression.ts";
import { sniffStream } from "./input.ts";
import { type ByteStream, concat, lazyStream, readStream, resume } from "./streams.ts";
import { MAX_TAR_MEMBERS, type TarMember, tarMembers } from "./tar.ts";

/** Metadata files of a container checkpoint (and of a pod or kubelet archive). */
export const METADATA_FILES: ReadonlySet<string> = new Set([
  "config.dump",
  "spec.dump",
  "status.dump",
  "network.status",
  "dump.log",
  "restore.log",
  "deleted.files",
  "pod.options",
  "pod.dump",
  "checkpointed.pods",
]);

/** Largest image (other than pages) or metadata file kept. */
export const MAX_ARCHIVE_FILE = 64 * 1024 * 1024;
/** Largest total of kept files. */
export const MAX_ARCHIVE_KEPT = 512 * 1024 * 1024;

/** One container's files in an archive. */
export interface ArchiveContainer {
  /** Folder of the container inside the archive: "" at the top, else "name/" (a pod's member). */
  prefix: string;
  /** CRIU images other than pages files, by file name. */
  images: Map<string, Uint8Array>;
  /** pages-*.img files seen, with the size their header claimed. */
  pages: Map<string, number>;
  /** Metadata files (config.dump, dump.log…) by file name. */
  meta: Map<string, Uint8Array>;
}

export interface CheckpointArchive {
  compression: Compression | "none";
  containers: ArchiveContainer[];
  members: number;
  /** Pod-level metadata at the top of a pod archive (pod.dump, pod.options). */
  pod: Map<string, Uint8Array>;
}

/** Receives one pages file's bytes. */
export interface PagesSink {
  push(bytes: Uint8Array): void;
}

export interface ReadArchiveOptions {
  /** A pages file begins: return where its bytes go, or undefined to skip it. */
  onPages?(container: ArchiveContainer, name: string): PagesSink | undefined;
  /** Keep images and metadata (default true); a second pass that only wants pages says false. */
  keepFiles?: boolean;
  maxMembers?: number;
}

type Role = { kind: "image" | "pages" | "meta"; prefix: string; file: string } | undefined;

const IMAGE_NAME = /^(?:[A-Za-z0-9_.-]+\.img|stats-dump|stats-restore|irmap-cache)$/;

/** Where a member belongs: a container's image, pages file or metadata, or nothing we read. */
export function memberRole(name: string): Role {
  const parts = name.split("/");
  const file = parts[parts.length - 1]!;
  const k = parts.lastIndexOf("checkpoint");
  if (k >= 0 && k === parts.length - 2) {
    const prefix = parts
      .slice(0, k)
      .map((p) => `${p}/`)
      .join("");
    if (/^pages-\d+\.img$/.test(file)) return { kind: "pages", prefix, file };
    if (IMAGE_NAME.test(file)) return { kind: "image", prefix, file };
    return undefined;
  }
  const prefix = parts
    .slice(0, -1)
    .map((p) => `${p}/`)
    .join("");
  if (METADATA_FILES.has(file)) return { kind: "meta", prefix, file };
  // A tar of a bare image directory: images without a checkpoint/ folder.
  if (!parts.includes("checkpoint") && IMAGE_NAME.test(file) && !file.endsWith(".tar")) {
    if (/^pages-\d+\.img$/.test(file)) return { kind: "pages", prefix, file };
    return { kind: "image", prefix, file };
  }
  return undefined;
}

/** Decompresses by magic bytes (never by name). */
export function uncompressed(src: ByteStream, seen?: (c: Compression | "none") => void): ByteStream {
  return lazyStream(async () => {
    const it = src[Symbol.asyncIterator]();
    // The longest magic (xz) is 6 bytes: gather at least that much before looking.
    const first: Uint8Array[] = [];
    let got = 0;
    while (got < 6) {
      const r = await it.next();
      if (r.done) break;
      first.push(r.value);
      got += r.value.length;
    }
    if (got === 0) throw new InvalidDataError("the input is empty");
    const head = concat(first, got);
    const rest = resume([head], it);
    const c = sniffCompression(head);
    seen?.(c ?? "none");
    return c ? decompress(c, rest)[Symbol.asyncIterator]() : rest;
  });
}

/**
 * Tar members that hold no checkpoint although they are tars: the container's file-system changes
 * and its /dev/shm (Podman, CRI-O).
 */
const NOT_CHECKPOINTS: ReadonlySet<string> = new Set(["rootfs-diff.tar", "devshm-checkpoint.tar"]);
/** Archives inside archives: a kubelet archive holds pods, a pod archive its containers. */
const MAX_NESTING = 2;

/**
 * A member that may be a checkpoint archive of its own: a `.tar` at the top of its archive, as a
 * pod archive holds one per container (`<name>.tar`, pod.options lists the names) and the
 * kubelet's one per pod (`<sandbox id>.tar`, checkpointed.pods); compressed or not.
 */
function nestedCandidate(name: string, depth: number): boolean {
  return depth < MAX_NESTING && !name.includes("/") && name.endsWith(".tar") && !NOT_CHECKPOINTS.has(name);
}

/** A member of an archive as `walkArchive` hands it over. */
export interface WalkedMember extends TarMember {
  /** The full name: the names of the archives it is inside, then its own (`a.tar/checkpoint/x`). */
  path: string;
  /** How deep it is: 0 in the archive itself, 1 inside a member archive, … */
  depth: number;
}

/**
 * Every member of an archive (compressed or not) in one pass, and the members of the checkpoint
 * archives inside it (`nestedCandidate`), with one member budget for all of them. `visit` reads a
 * member's body or leaves it (it is then skipped). Resolves to the outer compression and the count
 * of members.
 */
export async function walkArchive(
  src: ByteStream,
  visit: (m: WalkedMember) => Promise<void> | void,
  opts: { maxMembers?: number } = {},
): Promise<{ compression: Compression | "none"; members: number }> {
  let compression: Compression | "none" = "none";
  let members = 0;
  const maxMembers = opts.maxMembers ?? MAX_TAR_MEMBERS;
  const read = async (stream: ByteStream, prefix: string, depth: number): Promise<void> => {
    // One member budget for the archive and every archive inside it (a nested tar bomb too).
    const budget = { maxMembers: maxMembers - members };
    for await (const m of tarMembers(
      uncompressed(stream, (c) => {
        if (depth === 0) compression = c;
      }),
      budget,
    )) {
      members++;
      const path = `${prefix}${m.name}`;
      if (m.type === "file" && nestedCandidate(m.name, depth) && m.size > 0) {
        const inner = await sniffStream(m.body);
        if (inner.kind === "checkpoint-archive") {
          await read(inner.stream, `${path}/`, depth + 1);
          continue;
        }
        await visit({ ...m, body: inner.stream, path, depth });
        continue;
      }
      await visit({ ...m, path, depth });
    }
  };
  await read(src, "", 0);
  return { compression, members };
}

/** Reads a checkpoint archive (compressed or not) in one pass, archives inside it too. */
export async function readCheckpointArchive(
  src: ByteStream,
  opts: ReadArchiveOptions = {},
): Promise<CheckpointArchive> {
  const keep = opts.keepFiles ?? true;
  const containers = new Map<string, ArchiveContainer>();
  const pod = new Map<string, Uint8Array>();
  let kept = 0;
  const container = (prefix: string): ArchiveContainer => {
    let c = containers.get(prefix);
    if (!c) {
      c = { prefix, images: new Map(), pages: new Map(), meta: new Map() };
      containers.set(prefix, c);
    }
    return c;
  };
  const walkOpts = opts.maxMembers === undefined ? {} : { maxMembers: opts.maxMembers };
  const { compression, members } = await walkArchive(
    src,
    async (m) => {
      if (m.type !== "file") return;
      const name = m.path;
      const role = memberRole(name);
      if (!role) return;
      if (role.kind === "pages") {
        const c = container(role.prefix);
        c.pages.set(role.file, m.size);
        const sink = opts.onPages?.(c, role.file);
        if (sink) for await (const b of m.body) sink.push(b);
        return;
      }
      if (!keep) return;
      if (
        role.kind === "meta" &&
        (role.file === "pod.dump" || role.file === "pod.options") &&
        role.prefix === ""
      ) {
        pod.set(role.file, await readStream(m.body, MAX_ARCHIVE_FILE, name));
        return;
      }
      const bytes = await readStream(m.body, MAX_ARCHIVE_FILE, `archive member ${name}`);
      kept += bytes.length;
      if (kept > MAX_ARCHIVE_KEPT)
        throw new InvalidDataError(`the archive's images and metadata exceed ${MAX_ARCHIVE_KEPT} bytes`, {
          path: name,
        });
      const c = container(role.prefix);
      (role.kind === "image" ? c.images : c.meta).set(role.file, bytes);
    },
    walkOpts,
  );
  const list = [...containers.values()]
    .filter((c) => c.images.size > 0 || c.pages.size > 0)
    .sort((a, b) => a.prefix.localeCompare(b.prefix));
  // Metadata of a container whose images sit in its checkpoint/ folder is at the same prefix.
  return { compression, containers: list, members, pod };
}
