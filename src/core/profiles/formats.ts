/**
 * Every binary input format sigframe recognises, told by its first bytes (never by its name): one
 * constant table for PROFILE arguments (detect.ts, node/profile-source.ts) and scan targets
 * (node/scan-target.ts). A reader asks `detectFormat(head)` and handles each `FormatId` it
 * accepts, so a format added here (an archive, a compressed core) is a compile error in every
 * reader until it says what it does with it. Input that matches no entry is text (a profile) or
 * a raw memory image (scan).
 */
import { IMAGE_MAGICS, looksLikeCriuImage } from "../criu/image.ts";
import { hasElfMagic, looksLikeElfCore } from "../elf/format.ts";

/** Bytes of the head every entry is recognised from. */
export const HEAD_BYTES = 64;

export type FormatId = "elf-core" | "elf" | "criu-cpuinfo";

export interface InputFormat {
  id: FormatId;
  /** For messages: "ELF core". */
  title: string;
  /** The first bytes (up to HEAD_BYTES, fewer for a short input) are this format. */
  matches(head: Uint8Array): boolean;
}

/** Most specific first: the first entry that matches names the format. */
export const INPUT_FORMATS: readonly InputFormat[] = [
  { id: "elf-core", title: "ELF core", matches: looksLikeElfCore },
  // Any other ELF file: read as a core, it fails as one with the reason (not ET_CORE, not x86-64).
  { id: "elf", title: "ELF file", matches: hasElfMagic },
  {
    id: "criu-cpuinfo",
    title: "CRIU cpuinfo.img",
    matches: (head) => looksLikeCriuImage(head, IMAGE_MAGICS.CPUINFO),
  },
];

/** The format of an input from its first bytes; undefined when no entry matches. */
export function detectFormat(head: Uint8Array): InputFormat | undefined {
  return INPUT_FORMATS.find((f) => f.matches(head));
}
