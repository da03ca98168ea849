/**
 * Opens what `sigframe scan` and `check --checkpoint/--core` are pointed at: a CRIU checkpoint
 * directory, an ELF core file, or a raw memory image (with a base address). Files are read through
 * a file-backed ByteSource, never loaded whole.
 */
import { statSync } from "node:fs";
import { looksLikeElfCore, openCore } from "../core/elf/index.ts";
import { isSigframeError, UsageError } from "../core/errors.ts";
import { checkpointTarget, elfCoreTarget, rawTarget, type ScanTarget } from "../core/scan/targets.ts";
import { openFileSource } from "./byte-source.ts";
import { openCheckpoint } from "./criu-dir.ts";
import { describeFsError } from "./files.ts";

export interface OpenTargetOptions {
  /** Raw image: the virtual address of its first byte. */
  base?: bigint;
  /** Raw image: a thread's stack pointer, and its sigaltstack. */
  sp?: bigint;
  altstack?: { sp: bigint; size: bigint };
  /** What the target must be (check --checkpoint / --core). */
  expect?: "criu" | "elf-core";
}

interface OpenScanTarget extends ScanTarget {
  close(): void;
}

export function openScanTarget(path: string, opts: OpenTargetOptions = {}): OpenScanTarget {
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
      throw new UsageError("is a directory; --core takes an ELF core file", { input: path });
    const cp = openCheckpoint(path);
    return { ...checkpointTarget(cp, path), close: () => cp.close() };
  }
  if (opts.expect === "criu")
    throw new UsageError("not a directory; --checkpoint takes a CRIU checkpoint directory", { input: path });
  const src = openFileSource(path);
  try {
    const head = src.read(0, Math.min(64, src.size));
    if (looksLikeElfCore(head)) {
      if (opts.base !== undefined)
        throw new UsageError(
          "--base is for raw memory images; this is an ELF core (its segments have addresses)",
          {
            input: path,
          },
        );
      const oc = openCore(src, path);
      return { ...elfCoreTarget(oc, path), close: () => src.close() };
    }
    if (opts.expect === "elf-core") throw new UsageError("not an ELF core file", { input: path });
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
