/**
 * Compressed cores as systemd-coredump stores them (`core.<comm>.<uid>.<boot>.<pid>.<usec>.zst`,
 * `.xz`, `.lz4`), read as a stream: the headers and notes are kept (elf/stream.ts), the PT_LOAD
 * segments go through the streaming scanner at their addresses (scan/stream.ts), and the result is
 * what the same core gives uncompressed. Nothing is written to disk and the core is never held
 * whole.
 *
 * Two cases need the core twice, and so an input that can be opened again (a file, not a pipe):
 * headers after the data (elf/stream.ts), and signal-frame candidates where two segments meet in
 * memory but are stored apart in the file (the kernel's own cores store segments in address order).
 */
import { type OpenCore, openCore, PT_LOAD, segmentPerm } from "../elf/index.ts";
import { type CoreHeaders, type FilePart, readCorePass } from "../elf/stream.ts";
import { InvalidDataError, isSigframeError, UsageError } from "../errors.ts";
import type { MemoryRegion } from "../memory.ts";
import type { ScanOptions } from "../scan/scan.ts";
import { StreamCapture, type StreamRun, StreamScanner } from "../scan/stream.ts";
import { elfCoreTarget, type ProcessScan, type ScanTarget } from "../scan/targets.ts";
import { uncompressed } from "./checkpoint.ts";
import type { Compression } from "./compression.ts";
import type { ByteStream } from "./streams.ts";

export interface StreamedCoreScan {
  target: ScanTarget;
  scans: ProcessScan[];
  /** The opened core (headers, notes, profile); its memory is the scan's kept frame bytes. */
  core: OpenCore;
}

export interface StreamedCoreOptions {
  /** `open` can be called again for a second pass (a file, not a pipe). */
  reopenable?: boolean;
  /** Most bytes buffered while waiting for the headers (elf/stream.ts MAX_CORE_HEAD). */
  maxHead?: number;
}

/** Most passes over one core: a headers pass for section header 0, one for the table, the scan. */
const MAX_PASSES = 3;

function regionsOf(h: CoreHeaders): MemoryRegion[] {
  return h.programHeaders
    .filter((p) => p.type === PT_LOAD && p.memsz > 0n)
    .map((p) => ({ start: p.vaddr, end: p.vaddr + p.memsz, perm: segmentPerm(p.flags) }));
}

function runsOf(h: CoreHeaders): StreamRun[] {
  return h.programHeaders
    .filter((p) => p.type === PT_LOAD && p.memsz > 0n && p.filesz > 0)
    .map((p) => ({ start: p.vaddr, end: p.vaddr + BigInt(p.filesz), offset: p.offset }));
}

function needsFile(why: string, name: string): UsageError {
  return new UsageError(`${why}: such a core is read twice; give it as a file, not on a pipe`, {
    input: name,
  });
}

/**
 * Reads a compressed (or plain) core's stream to its end, handing the bytes to `onHeaders`'s sink;
 * passes again where the headers lie past the data.
 */
async function coreStreamPass(
  open: () => ByteStream,
  name: string,
  opts: StreamedCoreOptions & {
    onHeaders?(h: CoreHeaders): { push(b: Uint8Array): void } | undefined;
    notesOnly?: boolean;
  },
): Promise<{ core: OpenCore; compression: Compression | "none" }> {
  let known: FilePart[] | undefined;
  let compression: Compression | "none" = "none";
  for (let pass = 1; ; pass++) {
    const passOpts: Parameters<typeof readCorePass>[1] = {};
    if (known) passOpts.known = known;
    if (opts.onHeaders) passOpts.onHeaders = opts.onHeaders;
    if (opts.notesOnly) passOpts.notesOnly = true;
    if (opts.maxHead !== undefined) passOpts.maxHead = opts.maxHead;
    const res = await readCorePass(
      uncompressed(open(), (c) => {
        compression = c;
      }),
      passOpts,
    );
    if (res.kind === "done") return { core: openCore(res.source, name), compression };
    if (!opts.reopenable) throw needsFile(res.why, name);
    if (pass >= MAX_PASSES)
      throw new InvalidDataError(`${res.why}, and its headers could not be read`, { input: name });
    known = res.known;
  }
}

/** The headers, notes and profile of a compressed core, without its memory (a PROFILE source). */
export async function readStreamedCore(
  open: () => ByteStream,
  name: string,
  opts: StreamedCoreOptions = {},
): Promise<OpenCore> {
  try {
    return (await coreStreamPass(open, name, { ...opts, notesOnly: true })).core;
  } catch (e) {
    if (isSigframeError(e) && e.input === undefined) e.input = name;
    throw e;
  }
}

/** Scans a compressed core for signal frames: the same result as the plain core's scan. */
export async function scanStreamedCore(
  open: () => ByteStream,
  name: string,
  opts: ScanOptions & StreamedCoreOptions = {},
): Promise<StreamedCoreScan> {
  const { threads: _t, reopenable, maxHead, ...scanOpts } = opts;
  let scanner: StreamScanner | undefined;
  try {
    const { core, compression } = await coreStreamPass(open, name, {
      reopenable: Boolean(reopenable),
      ...(maxHead === undefined ? {} : { maxHead }),
      onHeaders: (h) => {
        scanner = new StreamScanner(regionsOf(h), runsOf(h), { ...scanOpts, regionsKnown: true });
        return scanner;
      },
    });
    const s = scanner!;
    s.close();
    if (s.deferredHits.length) {
      const n = s.deferredHits.length;
      if (!reopenable)
        throw needsFile(
          `${n === 1 ? "a magic1 hit lies" : `${n} magic1 hits lie`} where two segments meet in memory but are stored apart in the file`,
          name,
        );
      const capture = new StreamCapture(s.deferredRanges());
      for await (const c of uncompressed(open())) capture.push(c);
      s.examineDeferred(capture);
    }
    const target = elfCoreTarget(core, name);
    if (compression !== "none") target.compression = compression;
    const p = target.processes[0]!;
    const extra: Parameters<StreamScanner["end"]>[0] = {
      threads: p.threads,
      regions: p.memory.regions(),
      missing: p.memory.missing?.() ?? [],
    };
    if (p.otherMappings) extra.otherMappings = p.otherMappings;
    const { result, memory } = s.end(extra);
    p.memory = memory;
    const scan: ProcessScan = { process: p, result };
    if (p.pid !== undefined) scan.pid = p.pid;
    return { target, scans: [scan], core };
  } catch (e) {
    if (isSigframeError(e) && e.input === undefined) e.input = name;
    throw e;
  }
}
