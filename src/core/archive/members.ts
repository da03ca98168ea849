/**
 * `criu show` over a checkpoint archive: what is in it (each member with its size and kind: a
 * CRIU image by its magic, a pages file, the engine's metadata), as checkpointctl's `inspect`
 * lists an archive, and one member's bytes to decode as `criu show FILE` decodes a file. Read in
 * one pass, nothing extracted.
 */
import { IMG_COMMON_MAGIC, IMG_SERVICE_MAGIC, INVENTORY_MAGIC, readImageHeader } from "../criu/image.ts";
import { InvalidDataError, UsageError } from "../errors.ts";
import { MAX_ARCHIVE_FILE, memberRole, walkArchive } from "./checkpoint.ts";
import type { Compression } from "./compression.ts";
import { type ContainerInfo, containerInfo } from "./container.ts";
import { type ByteStream, readStream } from "./streams.ts";

export type MemberKind = "image" | "pages" | "metadata" | "directory" | "other";

export interface ArchiveMemberInfo {
  /** Full name (inside nested archives: `a.tar/checkpoint/core-1.img`). */
  name: string;
  kind: MemberKind;
  /** Bytes counted as the member was read (not what its header claims). */
  size: number;
  /** The CRIU image type (`CORE`, `MM`, …) for an image. */
  magic?: string;
  /** The folder of the container it belongs to ("" at the top, "a.tar/" in a pod). */
  container?: string;
}

export interface ArchiveListing {
  compression: Compression | "none";
  members: ArchiveMemberInfo[];
  /** Each container's folder and who it is (config.dump, spec.dump). */
  containers: { prefix: string; container: ContainerInfo }[];
}

/** The CRIU image type of the first bytes, if they are an image header. */
function imageMagic(head: Uint8Array): string | undefined {
  if (head.length < 4) return undefined;
  const first = new DataView(head.buffer, head.byteOffset, head.byteLength).getUint32(0, true);
  if (first !== IMG_COMMON_MAGIC && first !== IMG_SERVICE_MAGIC && first !== INVENTORY_MAGIC)
    return undefined;
  try {
    return readImageHeader(head).magic;
  } catch {
    return undefined;
  }
}

/** Every member of the archive (and of the archives inside it), in archive order. */
export async function listArchive(src: ByteStream): Promise<ArchiveListing> {
  const members: ArchiveMemberInfo[] = [];
  const meta = new Map<string, { config?: Uint8Array; spec?: Uint8Array }>();
  const { compression } = await walkArchive(src, async (m) => {
    if (m.type === "directory") {
      members.push({ name: `${m.path}/`, kind: "directory", size: 0 });
      return;
    }
    if (m.type !== "file") return;
    const role = memberRole(m.path);
    if (role?.kind === "meta" && (role.file === "config.dump" || role.file === "spec.dump")) {
      const bytes = await readStream(m.body, MAX_ARCHIVE_FILE, `archive member ${m.path}`);
      const e = meta.get(role.prefix) ?? {};
      e[role.file === "config.dump" ? "config" : "spec"] = bytes;
      meta.set(role.prefix, e);
      members.push({ name: m.path, kind: "metadata", size: bytes.length, container: role.prefix });
      return;
    }
    const head = new Uint8Array(8);
    let got = 0;
    let size = 0;
    for await (const c of m.body) {
      if (got < 8) {
        const n = Math.min(8 - got, c.length);
        head.set(c.subarray(0, n), got);
        got += n;
      }
      size += c.length;
    }
    const info: ArchiveMemberInfo = { name: m.path, kind: "other", size };
    if (role) {
      info.container = role.prefix;
      info.kind = role.kind === "meta" ? "metadata" : role.kind;
    }
    const magic = imageMagic(head.subarray(0, got));
    if (magic && info.kind !== "pages") {
      info.kind = "image";
      info.magic = magic;
    }
    members.push(info);
  });
  const prefixes = [
    ...new Set(members.filter((m) => m.kind === "image").map((m) => m.container ?? "")),
  ].sort();
  const containers = prefixes.map((prefix) => {
    const e = meta.get(prefix) ?? {};
    return { prefix, container: containerInfo(e.config, e.spec) };
  });
  return { compression, members, containers };
}

/** Whether member `path` is the one `want` names: the whole name, or its last components. */
function names(path: string, want: string): boolean {
  const w = want.replace(/^\.\//, "").replace(/\/+$/, "");
  return path === w || path.endsWith(`/${w}`);
}

/**
 * The bytes of one member, named by its full name or, when that is unique, its last components
 * (`core-1.img`, `checkpoint/core-1.img`, `a.tar/checkpoint/core-1.img`); at most `max` bytes.
 */
export async function readArchiveMember(
  src: ByteStream,
  want: string,
  max: number,
): Promise<{ name: string; bytes: Uint8Array }> {
  let found: { name: string; bytes: Uint8Array } | undefined;
  const matches: string[] = [];
  const all: string[] = [];
  await walkArchive(src, async (m) => {
    if (m.type !== "file") return;
    all.push(m.path);
    if (!names(m.path, want)) return;
    matches.push(m.path);
    if (matches.length > 1) return;
    if (memberRole(m.path)?.kind === "pages")
      throw new UsageError(
        `${m.path} is a pages file (the process's memory, not a CRIU image): 'sigframe scan' reads it`,
        { input: want },
      );
    found = { name: m.path, bytes: await readStream(m.body, max, `archive member ${m.path}`) };
  });
  if (matches.length > 1)
    throw new UsageError(
      `names ${matches.length} members (${matches.slice(0, 4).join(", ")}${matches.length > 4 ? ", …" : ""}): give more of the name`,
      { input: want },
    );
  if (!found) {
    const base = want.split("/").pop() ?? want;
    const near = all.filter((n) => n.split("/").pop() === base || n.includes(base)).slice(0, 3);
    throw new InvalidDataError(
      `no such member in the archive${near.length ? `; did you mean ${near.join(", ")}?` : " ('sigframe criu show ARCHIVE' lists them)"}`,
      { input: want },
    );
  }
  return found;
}
