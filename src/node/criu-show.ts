/**
 * What `criu show` reads: one CRIU image (a file, stdin, a compressed image, a member of a
 * checkpoint directory or archive), or a whole checkpoint to list (archive/members.ts listArchive;
 * an image directory is listed the same way).
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { ArchiveListing } from "../core/archive/members.ts";
import { looksLikeCriuImage, readImageHeader } from "../core/criu/image.ts";
import { isSigframeError, UsageError } from "../core/errors.ts";
import { isDirectory, readHead, readInput } from "./files.ts";

/** Largest image file `criu show` reads (pages files are not images and are refused by magic). */
export const MAX_SHOW_INPUT = 64 * 1024 * 1024;

// The archive, compression and container readers are loaded only for inputs that need them: a
// plain image file is read as it is.

/** One image's bytes, or a checkpoint's listing (with the path it was given as). */
export type CriuShowInput = { name: string; bytes: Uint8Array } | { path: string; listing: ArchiveListing };

/**
 * `FILE` (or `ARCHIVE:MEMBER`, where the whole argument is not a file: kubelet archives have ':'
 * in their names) and `--member NAME`, read.
 */
export async function readCriuShowInput(file: string, member?: string): Promise<CriuShowInput> {
  let path = file;
  if (member === undefined && file !== "-" && !existsSync(file)) {
    const at = file.lastIndexOf(":");
    if (at > 0 && existsSync(file.slice(0, at))) {
      path = file.slice(0, at);
      member = file.slice(at + 1);
    }
  }
  if (path !== "-" && isDirectory(path)) {
    if (member === undefined) return { path, listing: await listCheckpointDir(path) };
    const inDir = [join(path, member), join(path, "checkpoint", member)].find((f) => existsSync(f));
    return readInput(inDir ?? join(path, member), MAX_SHOW_INPUT);
  }
  if (member === undefined && path !== "-" && isImageFile(path)) return readInput(path, MAX_SHOW_INPUT);
  const { openStreamInput } = await import("./stream-input.ts");
  const input = await openStreamInput(path);
  if (input?.kind === "checkpoint-archive") {
    const { listArchive, readArchiveMember } = await import("../core/archive/members.ts");
    if (member === undefined) return { path, listing: await listArchive(input.open()) };
    try {
      const m = await readArchiveMember(input.open(), member, MAX_SHOW_INPUT);
      return { name: `${path}:${m.name}`, bytes: m.bytes };
    } catch (e) {
      if (isSigframeError(e) && e.input === member) e.input = `${path}:${member}`;
      throw e;
    }
  }
  if (member !== undefined)
    throw new UsageError("--member names an image of a checkpoint directory or archive; this is neither", {
      input: path,
    });
  if (input && (input.compression !== "none" || path === "-")) {
    // A compressed image (core-1.img.zst), or an image on stdin: read whole, decompressed.
    const { uncompressed } = await import("../core/archive/checkpoint.ts");
    const { readStream } = await import("../core/archive/streams.ts");
    try {
      return { name: path, bytes: await readStream(uncompressed(input.open()), MAX_SHOW_INPUT, path) };
    } catch (e) {
      // The decoders' errors (compressed data that holds nothing, …) are about this file.
      if (isSigframeError(e) && e.input === undefined) e.input = path;
      throw e;
    }
  }
  return readInput(path, MAX_SHOW_INPUT);
}

/** A regular file that starts with a CRIU image's magic. */
function isImageFile(path: string): boolean {
  try {
    return statSync(path).isFile() && looksLikeCriuImage(readHead(path, 8));
  } catch {
    return false;
  }
}

/** An image directory (or an engine's unpacked checkpoint) listed as an archive would be. */
export async function listCheckpointDir(dir: string): Promise<ArchiveListing> {
  const { memberRole } = await import("../core/archive/checkpoint.ts");
  const { containerInfo } = await import("../core/archive/container.ts");
  const members: ArchiveListing["members"] = [];
  const meta: { config?: Uint8Array; spec?: Uint8Array } = {};
  const files = readdirSync(dir).sort();
  const all = [
    ...files,
    ...(files.includes("checkpoint") && isDirectory(join(dir, "checkpoint"))
      ? readdirSync(join(dir, "checkpoint"))
          .sort()
          .map((f) => `checkpoint/${f}`)
      : []),
  ];
  for (const name of all) {
    const full = join(dir, name);
    const st = statSync(full);
    if (st.isDirectory()) {
      members.push({ name: `${name}/`, kind: "directory", size: 0 });
      continue;
    }
    if (!st.isFile()) continue;
    const role = memberRole(name);
    const m: ArchiveListing["members"][number] = { name, kind: "other", size: st.size };
    if (role) {
      m.container = role.prefix;
      m.kind = role.kind === "meta" ? "metadata" : role.kind;
      if (role.kind === "meta" && (role.file === "config.dump" || role.file === "spec.dump"))
        meta[role.file === "config.dump" ? "config" : "spec"] = readInput(full, MAX_SHOW_INPUT).bytes;
    }
    if (m.kind !== "pages") {
      const head = readHead(full, 8);
      if (looksLikeCriuImage(head)) {
        m.kind = "image";
        m.magic = readImageHeader(head).magic;
      }
    }
    members.push(m);
  }
  const hasImages = members.some((m) => m.kind === "image");
  return {
    compression: "none",
    members,
    containers: hasImages ? [{ prefix: "", container: containerInfo(meta.config, meta.spec) }] : [],
  };
}
