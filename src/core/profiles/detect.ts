/**
 * PROFILE arguments: a built-in name, or the bytes of a file whose format is detected: the binary
 * formats of formats.ts (ELF cores, CRIU cpuinfo.img), else text (`cpuid -r` output,
 * sigframe-profile/1 JSON, cpuid-corpus JSON).
 */
import { profileFromCpuinfoImage } from "../criu/cpuinfo-profile.ts";
import { looksLikeCriuLog, parseDumpLog, profileFromDumpLog } from "../criu/dump-log.ts";
import { openCore } from "../elf/index.ts";
import { InvalidDataError, isSigframeError, UsageError } from "../errors.ts";
import { parseJsonText } from "../json.ts";
import type { Profile } from "../profile.ts";
import { elfCoreTarget, scanTarget, settleSourceCpu } from "../scan/targets.ts";
import { type ByteSource, bytesSource } from "../source.ts";
import { decodeText } from "../text.ts";
import { looksLikeCpuidR, profileFromCpuidR } from "./cpuid-r.ts";
import { detectFormat, type FormatId, HEAD_BYTES } from "./formats.ts";
import { MAX_JSON_PROFILE_BYTES, MAX_PROFILE_LEAVES, profileFromJson } from "./json.ts";

export { builtinProfile, closestNames, isBuiltinName } from "./builtins.ts";

export interface ProfileReadOptions {
  /** `--cpu-index N` for multi-CPU `cpuid -r` dumps. */
  cpuIndex?: number;
}

/** The most of a profile file that is read whole (ELF cores read from a file are not). */
export const MAX_PROFILE_BYTES = 64 * 1024 * 1024;

/**
 * A profile from an ELF core, read through `src` (a file-backed source keeps a large core on disk).
 * Where the core's XSAVE record is weak (written by gdb, or without the kernel's layout note) the
 * live signal frames on its stacks are found and cross-checked with it (scan/core-cpu.ts); the
 * profile's notes say which source wins.
 */
export function profileFromElf(src: ByteSource, name: string): Profile {
  try {
    const oc = openCore(src, name);
    if (oc.xsave.source === "layout-note" && !oc.core.writtenByGdb) return oc.profile;
    const target = elfCoreTarget(oc, name);
    settleSourceCpu(target, scanTarget(target));
    const p = target.profile!;
    if (target.coreCpuSource === "notes")
      p.notes = [...p.notes, ...target.notes.filter((n) => n.startsWith("source CPU: "))];
    return p;
  } catch (e) {
    if (isSigframeError(e)) e.locate({ input: name });
    throw e;
  }
}

/** Checkpoint archives and compressed data are read as streams (archive/profile.ts). */
function readAsStream(bytes: Uint8Array, name: string): Profile {
  const f = detectFormat(bytes.subarray(0, HEAD_BYTES));
  throw new UsageError(
    `${f?.title ?? "this input"} is read as a stream: use profileFromStream (archive/profile.ts) for it`,
    { input: name },
  );
}

/** How a profile is read from each binary format. */
const BINARY_PROFILE_READERS: Record<FormatId, (bytes: Uint8Array, name: string) => Profile> = {
  "elf-core": (bytes, name) => profileFromElf(bytesSource(bytes), name),
  elf: (bytes, name) => profileFromElf(bytesSource(bytes), name),
  "criu-cpuinfo": profileFromCpuinfoImage,
  tar: readAsStream,
  gzip: readAsStream,
  zstd: readAsStream,
  xz: readAsStream,
  lz4: readAsStream,
};

export function profileFromBytes(bytes: Uint8Array, name: string, opts: ProfileReadOptions = {}): Profile {
  if (bytes.length === 0) throw new InvalidDataError("empty input: expected a CPU profile", { input: name });
  const format = detectFormat(bytes.subarray(0, HEAD_BYTES));
  if (format) return BINARY_PROFILE_READERS[format.id](bytes, name);
  // A JSON profile's size is checked before the text is decoded and parsed (JSON.parse builds
  // the whole document first: a 64 MiB array is seconds and gigabytes).
  let first = 0;
  while (first < bytes.length && (bytes[first] === 0x20 || (bytes[first]! >= 0x09 && bytes[first]! <= 0x0d)))
    first++;
  const json = bytes[first] === 0x7b || bytes[first] === 0x5b;
  if (json && bytes.length > MAX_JSON_PROFILE_BYTES)
    throw new InvalidDataError(
      `a JSON profile of ${bytes.length} bytes: the largest one (${MAX_PROFILE_LEAVES} CPUID leaves) is under ${MAX_JSON_PROFILE_BYTES}`,
      { input: name },
    );
  const text = textOf(bytes, name);
  if (json) {
    const doc = parseJsonText(text, name);
    return profileFromJson(doc, name);
  }
  if (looksLikeCpuidR(text)) return profileFromCpuidR(text, name, opts.cpuIndex);
  if (looksLikeCriuLog(text)) {
    const cpu = parseDumpLog(text, name);
    if (!cpu)
      throw new InvalidDataError(
        "a CRIU log without the dumping CPU's XSAVE layout: no 'cpu: fpu: xfeatures_mask' line (CRIU logs it at level 4, -v4, as runc and crun run it)",
        { input: name },
      );
    return profileFromDumpLog(cpu, name);
  }
  throw new InvalidDataError(
    "not a recognised profile format (expected 'cpuid -r' output, sigframe-profile/1 or cpuid-corpus JSON, a CRIU cpuinfo.img, dump.log or checkpoint, or an ELF core)",
    { input: name },
  );
}

function textOf(bytes: Uint8Array, name: string): string {
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === 0 || (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d)) {
      // The reason first: the offset of the first control byte is a detail, not where it failed.
      throw new InvalidDataError(
        `not a recognised profile format: binary data (control byte 0x${b.toString(16).padStart(2, "0")} at offset ${i}); expected 'cpuid -r' output, profile JSON, a CRIU cpuinfo.img or an ELF core`,
        { input: name },
      );
    }
  }
  return decodeText(bytes);
}
