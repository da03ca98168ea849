/**
 * What the scanner needs from each kind of image: its memory and its threads (stack pointer,
 * sigaltstack, own FPU state).
 */
import type { ElfCore } from "../elf/core.ts";
import { coreMemory } from "../elf/memory.ts";
import type { MemoryImage } from "../memory.ts";
import type { ScanThread, ThreadFpu } from "./scan.ts";

export interface ScanTarget {
  kind: "criu" | "elf-core" | "raw";
  /** For messages: the path or name of the image. */
  name: string;
  memory: MemoryImage;
  threads: ScanThread[];
  /** The image has real mappings with permissions (false for a raw image). */
  regionsKnown: boolean;
  /** Mappings known to exist whose permissions and bytes the image lacks. */
  otherMappings?: { start: bigint; end: bigint; name?: string }[];
  notes: string[];
}

function dv(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** The FPU state of a core thread: NT_X86_XSTATE (XSAVE area, XCR0 at 464) or NT_PRFPREG. */
export function elfThreadFpu(core: ElfCore, t: ElfCore["threads"][number]): ThreadFpu | undefined {
  if (t.xstate && t.xstate.length >= 576) {
    const v = dv(t.xstate);
    const fpu: ThreadFpu = {
      source: "NT_X86_XSTATE",
      xstateBv: v.getBigUint64(512, true),
      xfeatures: v.getBigUint64(464, true),
      size: t.xstate.length,
      mxcsr: v.getUint32(24, true),
      xsave: t.xstate,
    };
    const notes: string[] = [];
    if (core.writtenByGdb && !core.xsaveLayout)
      notes.push(
        "written by gdb without an XSAVE layout note: gdb may have laid the extended components out at Intel offsets",
      );
    if (notes.length) fpu.notes = notes;
    return fpu;
  }
  if (t.fpregs && t.fpregs.length >= 512) {
    return { source: "NT_PRFPREG", size: t.fpregs.length, mxcsr: dv(t.fpregs).getUint32(24, true) };
  }
  return undefined;
}

/** Threads and memory of an ELF core (NT_PRSTATUS registers; cores do not record sigaltstacks). */
export function elfCoreTarget(core: ElfCore, name: string): ScanTarget {
  const threads: ScanThread[] = core.threads.map((t, i) => {
    const st: ScanThread = { index: i + 1, tid: t.tid, sp: t.regs.rsp, ip: t.regs.rip };
    const fpu = elfThreadFpu(core, t);
    if (fpu) st.fpu = fpu;
    return st;
  });
  const notes = [...core.warnings];
  notes.push("ELF cores do not record sigaltstack settings: stacks are the mappings that hold each thread's sp");
  const memory = coreMemory(core);
  const loads = memory.regions();
  const otherMappings = (core.files?.entries ?? [])
    .filter((e) => !loads.some((r) => e.start < r.end && r.start < e.end))
    .map((e) => ({ start: e.start, end: e.end, name: e.name }));
  return { kind: "elf-core", name, memory, threads, regionsKnown: true, otherMappings, notes };
}
