/**
 * A core file's process memory: one region per PT_LOAD segment, named from NT_FILE (mapped files)
 * and `[stack]` for the process's initial stack: the mapping that holds AT_RANDOM / AT_EXECFN,
 * which the ELF loader (fs/binfmt_elf.c create_elf_tables()) puts there. A core records no other
 * anonymous mapping's name: a thread's rsp may lie in a pthread stack, a sigaltstack or the heap,
 * so the region holding an rsp is named `[stack]` only when the core has no such auxv entry. Bytes are read from the file on demand; the part of a
 * segment past p_filesz (not dumped: read-only file mappings gcore skipped, pages the kernel left
 * out) and the part past the end of a truncated file are not present.
 *
 * A process's mappings never overlap, and neither the kernel (fs/binfmt_elf.c elf_core_dump())
 * nor gdb's gcore writes two segments' bytes to the same place in the file: segments that overlap
 * in memory or in the file are invalid data. Names and stacks are found by binary search, so the
 * work grows with the number of segments, threads and mapped files, never with their product.
 */
import { InvalidDataError } from "../errors.ts";
import { type MemoryRegion, type PresentRun, SourceMemory } from "../memory.ts";
import { auxvValue, type ElfCore } from "./core.ts";
import { AT, PF_R, PF_W, PF_X, PT_LOAD } from "./format.ts";
import type { ProgramHeader } from "./header.ts";

const byStart = <T extends { start: bigint }>(a: T, b: T) =>
  a.start < b.start ? -1 : a.start > b.start ? 1 : 0;

/** Index of the last entry of `sorted` (by start) whose start is ≤ `addr`, or -1. */
function lastAtOrBelow(sorted: readonly { start: bigint }[], addr: bigint): number {
  let lo = 0;
  let hi = sorted.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]!.start <= addr) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/** Refuses PT_LOADs that overlap in memory (p_vaddr/p_memsz) or in the file (p_offset/p_filesz). */
export function checkLoadsDisjoint(core: ElfCore, loads: readonly ProgramHeader[]): void {
  const at = (p: ProgramHeader, field: string) => ({
    offset: core.header.phoff + p.index * core.header.phentsize,
    path: `phdrs[${p.index}]/${field}`,
  });
  const inMemory = [...loads].sort((a, b) => (a.vaddr < b.vaddr ? -1 : a.vaddr > b.vaddr ? 1 : 0));
  for (let i = 1; i < inMemory.length; i++) {
    const prev = inMemory[i - 1]!;
    const p = inMemory[i]!;
    if (p.vaddr < prev.vaddr + prev.memsz)
      throw new InvalidDataError(
        `PT_LOAD segments ${prev.index} and ${p.index} overlap at 0x${p.vaddr.toString(16)}: a process's mappings never do`,
        at(p, "p_vaddr"),
      );
  }
  const inFile = loads.filter((p) => p.filesz > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < inFile.length; i++) {
    const prev = inFile[i - 1]!;
    const p = inFile[i]!;
    if (p.offset < prev.offset + prev.filesz)
      throw new InvalidDataError(
        `PT_LOAD segments ${prev.index} and ${p.index} share file bytes at offset ${p.offset}: a core stores each segment once`,
        at(p, "p_offset"),
      );
  }
}

/** A segment's p_flags as /proc/pid/maps letters ("rw-"). */
export function segmentPerm(flags: number): string {
  return `${flags & PF_R ? "r" : "-"}${flags & PF_W ? "w" : "-"}${flags & PF_X ? "x" : "-"}`;
}

export class CoreMemory extends SourceMemory {
  constructor(core: ElfCore) {
    const loads = core.programHeaders.filter((p) => p.type === PT_LOAD && p.memsz > 0n);
    checkLoadsDisjoint(core, loads);
    loads.sort((a, b) => (a.vaddr < b.vaddr ? -1 : a.vaddr > b.vaddr ? 1 : 0));
    const sps = core.threads.map((t) => t.regs.rsp).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const marks = [auxvValue(core, AT.RANDOM), auxvValue(core, AT.EXECFN)].filter(
      (a): a is bigint => a !== undefined && a !== 0n,
    );
    const files = [...(core.files?.entries ?? [])].sort(byStart);
    // The file mapping holding `addr`: the last one starting at or below it (NT_FILE lists the
    // process's file mappings, which do not overlap; with overlapping entries one of them names it).
    const fileAt = (addr: bigint) => {
      const f = files[lastAtOrBelow(files, addr)];
      return f && f.end > addr ? f : undefined;
    };
    const spIn = (start: bigint, end: bigint) => {
      let lo = 0;
      let hi = sps.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (sps[mid]! < start) lo = mid + 1;
        else hi = mid;
      }
      return lo < sps.length && sps[lo]! < end;
    };
    const isStack = (start: bigint, end: bigint) =>
      marks.length ? marks.some((a) => a >= start && a < end) : spIn(start, end);
    const regions: MemoryRegion[] = [];
    const present: PresentRun[] = [];
    const gaps: { start: bigint; end: bigint; why: string }[] = [];
    for (const p of loads) {
      const start = p.vaddr;
      const end = p.vaddr + p.memsz;
      const r: MemoryRegion = { start, end, perm: segmentPerm(p.flags) };
      const f = fileAt(start);
      if (f) r.name = f.name;
      else if (isStack(start, end)) r.name = "[stack]";
      regions.push(r);
      const inFile = Math.max(0, Math.min(p.filesz, core.source.size - p.offset));
      if (inFile > 0) present.push({ start, end: start + BigInt(inFile), fileOffset: p.offset });
      if (BigInt(inFile) < p.memsz) {
        gaps.push({
          start: start + BigInt(inFile),
          end,
          why:
            inFile < p.filesz ? "past the end of the truncated core file" : "not dumped (p_filesz < p_memsz)",
        });
      }
    }
    super(core.source, regions, present, gaps);
  }
}

export function coreMemory(core: ElfCore): CoreMemory {
  return new CoreMemory(core);
}
