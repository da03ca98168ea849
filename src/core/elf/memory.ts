/**
 * A core file's process memory: one region per PT_LOAD segment, named from NT_FILE (mapped files)
 * and `[stack]` for the process's initial stack: the mapping that holds AT_RANDOM / AT_EXECFN,
 * which the ELF loader (fs/binfmt_elf.c create_elf_tables()) puts there. A core records no other
 * anonymous mapping's name: a thread's rsp may lie in a pthread stack, a sigaltstack or the heap,
 * so the region holding an rsp is named `[stack]` only when the core has no such auxv entry. Bytes are read from the file on demand; the part of a
 * segment past p_filesz (not dumped: read-only file mappings gcore skipped, pages the kernel left
 * out) and the part past the end of a truncated file are not present.
 */
import { type MemoryRegion, type PresentRun, SourceMemory } from "../memory.ts";
import { auxvValue, type ElfCore } from "./core.ts";
import { AT, PF_R, PF_W, PF_X, PT_LOAD } from "./format.ts";

export class CoreMemory extends SourceMemory {
  constructor(core: ElfCore) {
    const loads = core.programHeaders.filter((p) => p.type === PT_LOAD && p.memsz > 0n);
    loads.sort((a, b) => (a.vaddr < b.vaddr ? -1 : a.vaddr > b.vaddr ? 1 : 0));
    const sps = core.threads.map((t) => t.regs.rsp);
    const marks = [auxvValue(core, AT.RANDOM), auxvValue(core, AT.EXECFN)].filter(
      (a): a is bigint => a !== undefined && a !== 0n,
    );
    const isStack = (start: bigint, end: bigint) =>
      marks.length ? marks.some((a) => a >= start && a < end) : sps.some((sp) => sp >= start && sp < end);
    const files = core.files?.entries ?? [];
    const regions: MemoryRegion[] = [];
    const present: PresentRun[] = [];
    const gaps: { start: bigint; end: bigint; why: string }[] = [];
    for (const p of loads) {
      const start = p.vaddr;
      const end = p.vaddr + p.memsz;
      const perm = `${p.flags & PF_R ? "r" : "-"}${p.flags & PF_W ? "w" : "-"}${p.flags & PF_X ? "x" : "-"}`;
      const r: MemoryRegion = { start, end, perm };
      const f = files.find((e) => start >= e.start && start < e.end);
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
