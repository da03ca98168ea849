/**
 * A CRIU process's memory: VMAs from mm-<pid>.img, page runs from pagemap-<pid>.img, bytes from
 * pages-<id>.img. Pages flagged PE_PRESENT are stored in the pages file, one after another in
 * pagemap order; PE_PARENT pages live in a parent (pre-dump) image and PE_LAZY pages without
 * PE_PRESENT are served by a page server: both are reported by `missing()`, never guessed.
 * Images older than CRIU 4.0 count pages in `compat_nr_pages` and mark parent pages with
 * `in_parent`; both forms are understood.
 */
import { InvalidDataError, TruncatedInputError } from "../errors.ts";
import { type MemoryRegion, SourceMemory } from "../memory.ts";
import type { ByteSource } from "../source.ts";
import type { mm_entry } from "./gen/mm_pb.ts";
import type { pagemap_entry } from "./gen/pagemap_pb.ts";

export const PAGE_SIZE = 4096;
export const PE_PARENT = 1;
export const PE_LAZY = 2;
export const PE_PRESENT = 4;

/** VMA status bits that name a mapping (criu/include/image.h). */
const STATUS_NAMES: readonly [number, string][] = [
  [1 << 1, "[stack]"],
  [1 << 2, "[vsyscall]"],
  [1 << 3, "[vdso]"],
  [1 << 5, "[heap]"],
  [1 << 12, "[vvar]"],
];

/** A run of pages as the pagemap describes it. */
export interface PageRun {
  start: bigint;
  end: bigint;
  /** PE_* flags (synthesised from `in_parent` for old images). */
  flags: number;
  /** Offset in the pages file for present runs, else -1. */
  fileOffset: number;
}

export interface CriuMemoryOptions {
  /** File names by file id (reg files in files.img), to name file-backed VMAs. */
  fileNames?: ReadonlyMap<number, string>;
  /** The pages file's name, for errors. */
  pagesName?: string;
  /** The pagemap's name, for errors. */
  pagemapName?: string;
}

/** Largest address span accepted for one pagemap entry: 2^47 bytes (the user address space). */
const MAX_RUN_PAGES = 1n << 35n;

function pageCount(e: pagemap_entry): bigint {
  return e.nrPages !== undefined && e.nrPages !== 0n ? e.nrPages : BigInt(e.compatNrPages);
}

function flagsOf(e: pagemap_entry): number {
  const rec = e as unknown as Record<string, unknown>;
  if (Object.hasOwn(rec, "flags")) return e.flags;
  return e.inParent ? PE_PARENT : PE_PRESENT;
}

/** Turns pagemap entries into runs with pages-file offsets; validates them against `pagesSize`. */
export function pageRuns(
  entries: readonly { entry: pagemap_entry; offset: number }[],
  pagesSize: number | undefined,
  opts: CriuMemoryOptions = {},
): PageRun[] {
  const runs: PageRun[] = [];
  let fileOff = 0;
  entries.forEach(({ entry, offset }, i) => {
    const where = {
      offset,
      path: `entries/${i + 1}`,
      ...(opts.pagemapName ? { input: opts.pagemapName } : {}),
    };
    const n = pageCount(entry);
    if (entry.vaddr % BigInt(PAGE_SIZE) !== 0n) {
      throw new InvalidDataError(`pagemap entry vaddr 0x${entry.vaddr.toString(16)} is not page-aligned`, {
        ...where,
        path: `${where.path}/vaddr`,
      });
    }
    if (n === 0n || n > MAX_RUN_PAGES || entry.vaddr + n * BigInt(PAGE_SIZE) > 1n << 64n) {
      throw new InvalidDataError(`pagemap entry has an implausible page count ${n}`, {
        ...where,
        path: `${where.path}/nr_pages`,
      });
    }
    const flags = flagsOf(entry);
    const len = n * BigInt(PAGE_SIZE);
    let fo = -1;
    if (flags & PE_PRESENT && !(flags & PE_PARENT)) {
      fo = fileOff;
      const next = BigInt(fileOff) + len;
      if (pagesSize !== undefined && next > BigInt(pagesSize)) {
        throw new TruncatedInputError(
          `the pagemap needs ${next} bytes of pages up to this entry; the pages file has ${pagesSize}`,
          { ...where, ...(opts.pagesName ? { input: opts.pagesName } : {}) },
        );
      }
      fileOff = Number(next);
    }
    runs.push({ start: entry.vaddr, end: entry.vaddr + len, flags, fileOffset: fo });
  });
  const sorted = [...runs].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.start < sorted[i - 1]!.end) {
      throw new InvalidDataError(
        `pagemap entries overlap at 0x${sorted[i]!.start.toString(16)}`,
        opts.pagemapName ? { input: opts.pagemapName } : {},
      );
    }
  }
  return sorted;
}

function perm(prot: number): string {
  return `${prot & 1 ? "r" : "-"}${prot & 2 ? "w" : "-"}${prot & 4 ? "x" : "-"}`;
}

/** The VMAs of an mm entry as memory regions. */
export function vmaRegions(mm: mm_entry, fileNames?: ReadonlyMap<number, string>): MemoryRegion[] {
  const out: MemoryRegion[] = mm.vmas.map((v) => {
    const r: MemoryRegion = { start: v.start, end: v.end, perm: perm(v.prot) };
    const named = STATUS_NAMES.find(([b]) => (v.status & b) !== 0);
    if (named) r.name = named[1];
    // As /proc/pid/maps names them: the VMA holding start_stack, the one spanning the brk area.
    else if (v.start <= mm.mmStartStack && mm.mmStartStack < v.end) r.name = "[stack]";
    else if (mm.mmBrk > mm.mmStartBrk && v.start <= mm.mmBrk && v.end >= mm.mmStartBrk && !(v.status & 0xc0))
      r.name = "[heap]";
    else if (v.status & ((1 << 6) | (1 << 7))) {
      const n = fileNames?.get(Number(v.shmid));
      if (n !== undefined) r.name = n;
    }
    return r;
  });
  out.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  return out;
}

export class CriuMemory extends SourceMemory {
  readonly runs: readonly PageRun[];

  constructor(
    mm: mm_entry,
    pagemap: readonly { entry: pagemap_entry; offset: number }[],
    pages: ByteSource | undefined,
    opts: CriuMemoryOptions = {},
  ) {
    const runs = pageRuns(pagemap, pages?.size, opts);
    super(
      pages,
      vmaRegions(mm, opts.fileNames),
      runs.filter((r) => r.fileOffset >= 0),
      missingRuns(runs, pages !== undefined),
    );
    this.runs = runs;
  }
}

/** Runs whose contents are not in this image: in a parent image, lazy, or no pages file. */
function missingRuns(
  runs: readonly PageRun[],
  havePages: boolean,
): { start: bigint; end: bigint; why: string }[] {
  const out: { start: bigint; end: bigint; why: string }[] = [];
  for (const r of runs) {
    if (r.flags & PE_PARENT) out.push({ start: r.start, end: r.end, why: "in_parent" });
    else if (!(r.flags & PE_PRESENT) && r.flags & PE_LAZY)
      out.push({ start: r.start, end: r.end, why: "lazy" });
    else if (r.fileOffset >= 0 && !havePages)
      out.push({ start: r.start, end: r.end, why: "pages file absent" });
  }
  return out;
}
