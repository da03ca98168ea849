/**
 * A core file's process memory: one region per PT_LOAD segment, named from NT_FILE (mapped files)
 * and `[stack]` where a thread's rsp falls. Bytes are read from the file on demand; the part of a
 * segment past p_filesz (not dumped: read-only file mappings gcore skipped, pages the kernel left
 * out) and the part past the end of a truncated file are not present.
 */
import type { MemoryChunk, MemoryImage, MemoryRegion } from "../memory.ts";
import type { ElfCore } from "./core.ts";
import { PF_R, PF_W, PF_X, PT_LOAD } from "./core.ts";

interface Present {
  start: bigint;
  /** Exclusive. */
  end: bigint;
  fileOffset: number;
}

export class CoreMemory implements MemoryImage {
  private readonly core: ElfCore;
  private readonly regs: MemoryRegion[];
  /** Present byte ranges, ascending by address. */
  private readonly present: Present[];
  private readonly gaps: { start: bigint; end: bigint; why: string }[];

  constructor(core: ElfCore) {
    this.core = core;
    const loads = core.programHeaders.filter((p) => p.type === PT_LOAD && p.memsz > 0n);
    loads.sort((a, b) => (a.vaddr < b.vaddr ? -1 : a.vaddr > b.vaddr ? 1 : 0));
    const sps = core.threads.map((t) => t.regs.rsp);
    const files = core.files?.entries ?? [];
    this.regs = [];
    this.present = [];
    this.gaps = [];
    for (const p of loads) {
      const start = p.vaddr;
      const end = p.vaddr + p.memsz;
      const perm = `${p.flags & PF_R ? "r" : "-"}${p.flags & PF_W ? "w" : "-"}${p.flags & PF_X ? "x" : "-"}`;
      const r: MemoryRegion = { start, end, perm };
      const f = files.find((e) => start >= e.start && start < e.end);
      if (f) r.name = f.name;
      else if (sps.some((sp) => sp >= start && sp < end)) r.name = "[stack]";
      this.regs.push(r);
      const inFile = Math.max(0, Math.min(p.filesz, core.source.size - p.offset));
      if (inFile > 0) this.present.push({ start, end: start + BigInt(inFile), fileOffset: p.offset });
      if (BigInt(inFile) < p.memsz) {
        this.gaps.push({
          start: start + BigInt(inFile),
          end,
          why:
            inFile < p.filesz ? "past the end of the truncated core file" : "not dumped (p_filesz < p_memsz)",
        });
      }
    }
  }

  regions(): readonly MemoryRegion[] {
    return this.regs;
  }

  missing(): readonly { start: bigint; end: bigint; why: string }[] {
    return this.gaps;
  }

  /** Index of the present range containing addr, or -1. */
  private find(addr: bigint): number {
    let lo = 0;
    let hi = this.present.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = this.present[mid]!;
      if (addr < r.start) hi = mid - 1;
      else if (addr >= r.end) lo = mid + 1;
      else return mid;
    }
    return -1;
  }

  read(addr: bigint, len: number): Uint8Array | undefined {
    if (len < 0 || !Number.isSafeInteger(len)) return undefined;
    if (len === 0) return new Uint8Array(0);
    let i = this.find(addr);
    if (i < 0) return undefined;
    // Check every byte is present (possibly across adjacent segments) before allocating.
    const last = addr + BigInt(len);
    let reach = this.present[i]!.end;
    for (let j = i + 1; reach < last; j++) {
      const next = this.present[j];
      if (!next || next.start !== reach) return undefined;
      reach = next.end;
    }
    const out = new Uint8Array(len);
    let a = addr;
    let done = 0;
    while (done < len) {
      const r = this.present[i]!;
      const n = Number(r.end - a < BigInt(len - done) ? r.end - a : BigInt(len - done));
      out.set(this.core.source.read(r.fileOffset + Number(a - r.start), n), done);
      done += n;
      a += BigInt(n);
      i++;
    }
    return out;
  }

  *chunks(maxChunk: number, overlap: number): Iterable<MemoryChunk> {
    if (!(maxChunk > 0)) throw new RangeError("maxChunk must be positive");
    const ov = Math.max(0, Math.min(overlap, maxChunk));
    let i = 0;
    while (i < this.present.length) {
      // One run of contiguous present bytes.
      const runStart = this.present[i]!.start;
      let runEnd = this.present[i]!.end;
      let j = i + 1;
      while (j < this.present.length && this.present[j]!.start === runEnd) runEnd = this.present[j++]!.end;
      let carry = new Uint8Array(0);
      for (let a = runStart; a < runEnd; ) {
        const n = Number(runEnd - a < BigInt(maxChunk) ? runEnd - a : BigInt(maxChunk));
        const fresh = this.read(a, n)!;
        let bytes = fresh;
        if (carry.length) {
          bytes = new Uint8Array(carry.length + n);
          bytes.set(carry, 0);
          bytes.set(fresh, carry.length);
        }
        yield { addr: a - BigInt(carry.length), bytes };
        carry = ov ? bytes.slice(Math.max(0, bytes.length - ov)) : new Uint8Array(0);
        a += BigInt(n);
      }
      i = j;
    }
  }
}

export function coreMemory(core: ElfCore): CoreMemory {
  return new CoreMemory(core);
}
