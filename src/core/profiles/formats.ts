/**
 * Every binary input format sigframe recognises, told by its first bytes (never by its name): one
 * constant table for PROFILE arguments (detect.ts, node/profile-source.ts), scan targets
 * (node/scan-target.ts) and the inputs read as streams (archive/input.ts): checkpoint archives
 * (tar, `ustar` at byte 257) and compressed data (gzip, zstd, xz, lz4; what is inside is told by
 * the same table once decompressed). A reader asks `detectFormat(head)` and handles each
 * `FormatId` it accepts, so a format added here is a compile error in every reader until it says
 * what it does with it. Input that matches no entry is text (a profile) or a raw memory image
 * (scan).
 */
import { COMPRESSION_MAGICS, type Compression, sniffCompression } from "../archive/compression.ts";
import { IMAGE_MAGICS, looksLikeCriuImage } from "../criu/image.ts";
import { hasElfMagic, looksLikeElfCore } from "../elf/format.ts";

/** Bytes of the head every entry is recognised from (a tar's magic ends at byte 262). */
export const HEAD_BYTES = 512;

export type FormatId = "elf-core" | "elf" | "criu-cpuinfo" | "tar" | Compression;

export interface InputFormat {
  id: FormatId;
  /** For messages: "ELF core". */
  title: string;
  /** How it is read: whole or by random access (`file`), or as a stream (`archive`, `compressed`). */
  kind: "file" | "archive" | "compressed";
  /** The first bytes (up to HEAD_BYTES, fewer for a short input) are this format. */
  matches(head: Uint8Array): boolean;
}

/** `ustar` at byte 257: POSIX (`ustar\0`) and GNU (`ustar  \0`) tar headers. */
export function looksLikeTar(head: Uint8Array): boolean {
  return (
    head.length >= 262 &&
    head[257] === 0x75 &&
    head[258] === 0x73 &&
    head[259] === 0x74 &&
    head[260] === 0x61 &&
    head[261] === 0x72
  );
}

const COMPRESSION_TITLES: Record<Compression, string> = {
  gzip: "gzip-compressed data",
  zstd: "zstd-compressed data",
  xz: "xz-compressed data",
  lz4: "lz4-compressed data (frame format)",
};

/** Most specific first: the first entry that matches names the format. */
export const INPUT_FORMATS: readonly InputFormat[] = [
  { id: "elf-core", title: "ELF core", kind: "file", matches: looksLikeElfCore },
  // Any other ELF file: read as a core, it fails as one with the reason (not ET_CORE, not x86-64).
  { id: "elf", title: "ELF file", kind: "file", matches: hasElfMagic },
  {
    id: "criu-cpuinfo",
    title: "CRIU cpuinfo.img",
    kind: "file",
    matches: (head) => looksLikeCriuImage(head, IMAGE_MAGICS.CPUINFO),
  },
  { id: "tar", title: "tar archive", kind: "archive", matches: looksLikeTar },
  ...COMPRESSION_MAGICS.map(
    (c): InputFormat => ({
      id: c.format,
      title: COMPRESSION_TITLES[c.format],
      kind: "compressed",
      matches: (head) => sniffCompression(head) === c.format,
    }),
  ),
];

/** The format of an input from its first bytes; undefined when no entry matches. */
export function detectFormat(head: Uint8Array): InputFormat | undefined {
  return INPUT_FORMATS.find((f) => f.matches(head));
}
