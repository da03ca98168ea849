/**
 * Opens what `sigframe scan` and `check --checkpoint/--core` are pointed at: a CRIU checkpoint
 * directory, an ELF core file, or a raw memory image (with a base address). Files are read through
 * a file-backed ByteSource, never loaded whole. The CRIU reader (with its protobuf schemas), the
 * ELF core reader and the archive readers are loaded only for the kind of target given.
 */
import { existsSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { MAX_ARCHIVE_FILE } from "../core/archive/checkpoint.ts";
import type { Compression } from "../core/archive/compression.ts";
import { containerInfo } from "../core/archive/container.ts";
import { MAX_DUMP_LOG } from "../core/criu/dump-log.ts";
import { InvalidDataError, isSigframeError, UsageError } from "../core/errors.ts";
import type { Profile } from "../core/profile.ts";
import { detectFormat, HEAD_BYTES } from "../core/profiles/formats.ts";
import type { RawImageOptions } from "../core/scan/report.ts";
import type { ScanOptions } from "../core/scan/scan.ts";
import {
  checkpointTarget,
  elfCoreTarget,
  type ProcessScan,
  rawTarget,
  type ScanTarget,
  scanTarget,
  settleSourceCpu,
} from "../core/scan/targets.ts";
import { decodeText } from "../core/text.ts";
import { openFileSource } from "./byte-source.ts";
import { describeFsError, isCheckpointDir, readInput } from "./files.ts";
import { openStreamInput } from "./stream-input.ts";

/** A raw image's base, stack pointer and sigaltstack (scan/report.ts rawImageOptions), and the kind expected. */
export interface OpenTargetOptions extends RawImageOptions {
  /** What the target must be (check --checkpoint / --core). */
  expect?: "criu" | "elf-core";
}

interface OpenScanTarget extends ScanTarget {
  close(): void;
}

export async function openScanTarget(path: string, opts: OpenTargetOptions = {}): Promise<OpenScanTarget> {
  if (path === "-")
    throw new UsageError("scanning needs random access: give a file or directory, not stdin", {
      input: "-",
    });
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch (e) {
    throw new UsageError(describeFsError(e), { input: path });
  }
  if (isDir) {
    if (opts.base !== undefined)
      throw new UsageError("--base is for raw memory images; this is a directory (a CRIU checkpoint)", {
        input: path,
      });
    if (opts.expect === "elf-core")
      throw new UsageError(`is a directory; ${WHAT["elf-core"]}`, { input: path });
    // A Podman/CRI-O checkpoint unpacked: the images in checkpoint/, the metadata beside them.
    const podman =
      !existsSync(join(path, "pstree.img")) && existsSync(join(path, "checkpoint", "pstree.img"));
    const images = podman ? join(path, "checkpoint") : path;
    const meta = podman ? path : basename(path) === "checkpoint" ? dirname(path) : path;
    const { openCheckpoint } = await import("./criu-dir.ts");
    const cp = openCheckpoint(images);
    const t: OpenScanTarget = { ...checkpointTarget(cp, path), close: () => cp.close() };
    const log = [join(images, "dump.log"), join(meta, "dump.log")].find((f) => existsSync(f));
    if (log) t.dumpLog = decodeText(readInput(log, MAX_DUMP_LOG).bytes);
    const cfg = join(meta, "config.dump");
    const spec = join(meta, "spec.dump");
    if (existsSync(cfg) || existsSync(spec)) {
      const read = (f: string) => (existsSync(f) ? readInput(f, MAX_ARCHIVE_FILE).bytes : undefined);
      t.container = containerInfo(read(cfg), read(spec));
    }
    return t;
  }
  if (opts.expect === "criu")
    throw new UsageError(`not a directory or a checkpoint archive; ${WHAT.criu}`, { input: path });
  const src = openFileSource(path);
  try {
    const format = detectFormat(src.read(0, Math.min(HEAD_BYTES, src.size)));
    if (format?.id === "elf-core") {
      if (opts.base !== undefined)
        throw new UsageError(
          "--base is for raw memory images; this is an ELF core (its segments have addresses)",
          {
            input: path,
          },
        );
      const { openCore } = await import("../core/elf/index.ts");
      const oc = openCore(src, path);
      return { ...elfCoreTarget(oc, path), close: () => src.close() };
    }
    if (opts.expect === "elf-core")
      throw new UsageError(`not an ELF core; ${WHAT["elf-core"]}`, { input: path });
    if (opts.base === undefined)
      throw new UsageError(
        "not a CRIU checkpoint directory or an ELF core; for a raw memory image give --base ADDR (its first byte's address)",
        { input: path },
      );
    const thread: { sp?: bigint; altstack?: { sp: bigint; size: bigint } } = {};
    if (opts.sp !== undefined) thread.sp = opts.sp;
    if (opts.altstack) thread.altstack = opts.altstack;
    return { ...rawTarget(src, opts.base, path, thread), close: () => src.close() };
  } catch (e) {
    src.close();
    if (isSigframeError(e) && e.input === undefined) e.input = path;
    throw e;
  }
}

/**
 * A CRIU checkpoint directory as a PROFILE: the CPU it was taken on (cpuinfo.img, else dump.log,
 * else core-*.img with the frames on its stacks, which are then scanned for).
 */
export async function checkpointDirProfile(path: string): Promise<Profile> {
  if (!isCheckpointDir(path))
    throw new UsageError(
      "is a directory, not a CRIU checkpoint (no pstree.img); a PROFILE is a file, a checkpoint or a built-in name",
      { input: path },
    );
  const target = await openScanTarget(path, { expect: "criu" });
  try {
    settleSourceCpu(target, target.profile || target.dumpLog ? [] : scanTarget(target));
    if (!target.profile)
      throw new InvalidDataError(
        "the checkpoint does not record its CPU (no cpuinfo.img, no dump.log at log level 4, no XSAVE state in core-*.img)",
        { input: path },
      );
    return { ...target.profile, name: path, source: { ...target.profile.source, path } };
  } finally {
    target.close();
  }
}

/** What `scan` and `check --checkpoint/--core` read: one image, or each container of an archive. */
export interface ScannedInput {
  parts: { target: ScanTarget; scans: ProcessScan[] }[];
  /** It was a checkpoint archive (tar), with this compression. */
  archive?: { compression: Compression | "none" };
  /** Release the files kept open (call after the last read of the targets' memory). */
  close(): void;
}

export interface ScanInputOptions extends OpenTargetOptions {
  all?: boolean;
  onProgress?(done: number, total: number): void;
}

const WHAT: Record<"criu" | "elf-core", string> = {
  criu: "--checkpoint takes a CRIU checkpoint directory or archive",
  "elf-core": "--core takes an ELF core file (plain or compressed)",
};

/**
 * Opens and scans any checkpoint or core argument: an image directory, a checkpoint archive (tar:
 * plain, gzip or zstd), an ELF core (plain, or compressed with zstd, xz or lz4; on stdin too), or a
 * raw memory image (with --base). Archives and compressed cores are streamed.
 */
export async function scanInput(path: string, opts: ScanInputOptions = {}): Promise<ScannedInput> {
  const scanOpts: ScanOptions = {};
  if (opts.all) scanOpts.all = true;
  if (opts.onProgress) scanOpts.onProgress = opts.onProgress;
  const input = await openStreamInput(path);
  const rawFlags = opts.base !== undefined || opts.sp !== undefined || opts.altstack !== undefined;
  const streamed =
    input &&
    (input.kind === "checkpoint-archive" ||
      (input.kind === "core" && (input.compression !== "none" || path === "-")));
  if (input && streamed) {
    const what =
      input.kind === "checkpoint-archive"
        ? "a checkpoint archive"
        : "an ELF core (its segments have addresses)";
    if (rawFlags)
      throw new UsageError(`--base, --sp and --altstack are for raw memory images; this is ${what}`, {
        input: path,
      });
    if (input.kind === "checkpoint-archive") {
      if (opts.expect === "elf-core")
        throw new UsageError(`is a checkpoint archive; ${WHAT["elf-core"]} (give it as --checkpoint)`, {
          input: path,
        });
      const { scanStreamed } = await import("../core/archive/scan-input.ts");
      // A file decompressed natively reaches the core as a plain stream: say how it was stored.
      const res = await scanStreamed("checkpoint-archive", input.open, path, {
        ...scanOpts,
        reopenable: input.reopenable,
        compression: input.compression,
      });
      return { parts: res.parts, archive: { compression: res.compression }, close: () => {} };
    }
    if (opts.expect === "criu")
      throw new UsageError(
        `is ${input.compression === "none" ? "an" : `a ${input.compression}-compressed`} ELF core; ${WHAT.criu} (give it as --core)`,
        { input: path },
      );
    const { scanStreamed } = await import("../core/archive/scan-input.ts");
    const res = await scanStreamed("core", input.open, path, {
      ...scanOpts,
      reopenable: input.reopenable,
      compression: input.compression,
    });
    return { parts: res.parts, close: () => {} };
  }
  if (input && input.compression !== "none")
    throw new UsageError(
      `${input.compression}-compressed data that holds neither a checkpoint archive (tar) nor an ELF core`,
      { input: path },
    );
  if (path === "-")
    throw new UsageError("a raw memory image on stdin: scanning it needs random access, give a file", {
      input: "-",
    });
  const target = await openScanTarget(path, opts);
  try {
    const scans = scanTarget(target, scanOpts);
    settleSourceCpu(target, scans);
    return { parts: [{ target, scans }], close: () => target.close() };
  } catch (e) {
    target.close();
    throw e;
  }
}
