/**
 * What the scanner needs from each kind of image: per process, its memory and its threads (stack
 * pointer, sigaltstack, own FPU state). Adapters for CRIU checkpoints, ELF cores and raw images.
 */
import type { ContainerInfo } from "../archive/container.ts";
import type { Checkpoint } from "../criu/checkpoint.ts";
import { type CpuSource, sourceCpu } from "../criu/source-cpu.ts";
import { PT_LOAD } from "../elf/format.ts";
import type { OpenCore } from "../elf/index.ts";
import type { MemoryImage } from "../memory.ts";
import type { Profile } from "../profile.ts";
import type { ByteSource } from "../source.ts";
import { type CoreRecord, type SettledCoreCpu, settleCoreCpu } from "./core-cpu.ts";
import { RawMemory } from "./raw.ts";
import { type ScanOptions, type ScanResult, type ScanThread, scanMemory, type ThreadFpu } from "./scan.ts";

export interface ScanProcess {
  pid?: number;
  memory: MemoryImage;
  threads: ScanThread[];
  /** The image has real mappings with permissions (false for a raw image). */
  regionsKnown: boolean;
  /** Mappings known to exist whose permissions and bytes the image lacks. */
  otherMappings?: { start: bigint; end: bigint; name?: string }[];
  /** Bytes of memory the image holds (for progress). */
  presentBytes?: number;
}

export interface ScanTarget {
  kind: "criu" | "elf-core" | "raw";
  /** For messages: the path or name of the image. */
  name: string;
  processes: ScanProcess[];
  /** The CPU the image was taken on, where it says (cpuinfo.img, dump.log, core notes). */
  profile?: Profile;
  notes: string[];
  /** CRIU: the checkpoint itself, for the source-CPU chain (settleSourceCpu). */
  checkpoint?: Checkpoint;
  /** CRIU: the text of the dump.log beside the images, where there is one. */
  dumpLog?: string;
  /** Which record the source CPU came from. */
  cpuSource?: CpuSource;
  /** The container the checkpoint is of (engine metadata beside the images). */
  container?: ContainerInfo;
  /** How the input was compressed (a checkpoint archive, a systemd-coredump core). */
  compression?: "gzip" | "zstd" | "xz" | "lz4";
  /** ELF core: what its notes record of the CPU, to cross-check with the frames (core-cpu.ts). */
  core?: CoreRecord;
  /** ELF core: whether the source CPU stands on the notes or on the frames, once settled. */
  coreCpuSource?: SettledCoreCpu["source"];
}

/**
 * A CRIU target's source CPU once its frames are known: cpuinfo.img, else dump.log, else what the
 * core images and the frames on the stacks show (criu/source-cpu.ts). Notes say which.
 */
export function settleSourceCpu(target: ScanTarget, scans: readonly ProcessScan[]): void {
  const frames = scans.flatMap((s) =>
    s.result.frames.filter((f) => f.confidence === "high").map((f) => f.sw),
  );
  if (target.kind === "elf-core" && target.core && target.profile && !target.coreCpuSource) {
    // An ELF core's notes against the frames on its stacks (core-cpu.ts).
    const settled = settleCoreCpu(target.profile, target.core, frames);
    target.profile = settled.profile;
    target.coreCpuSource = settled.source;
    target.notes.push(...settled.notes.map((n) => `source CPU: ${n}`));
    return;
  }
  if (target.kind !== "criu" || !target.checkpoint || target.cpuSource) return;
  const cpu = sourceCpu(target.checkpoint, target.dumpLog, frames, target.name);
  if (cpu.profile) target.profile = cpu.profile;
  target.notes.push(...cpu.notes);
  if (cpu.source) {
    target.cpuSource = cpu.source;
    if (cpu.source !== "cpuinfo.img") target.notes.push(`source CPU from ${cpu.source}`);
  }
}

export interface ProcessScan {
  pid?: number;
  process: ScanProcess;
  result: ScanResult;
}

/** Scans every process of a target. */
export function scanTarget(target: ScanTarget, opts: Omit<ScanOptions, "threads"> = {}): ProcessScan[] {
  const out: ProcessScan[] = [];
  const total = target.processes.length;
  let doneBefore = 0;
  for (const p of target.processes) {
    const o: ScanOptions = { ...opts, threads: p.threads, regionsKnown: p.regionsKnown };
    if (p.otherMappings) o.otherMappings = p.otherMappings;
    if (p.presentBytes !== undefined) o.totalBytes = p.presentBytes;
    if (opts.onProgress && total > 1) {
      const base = doneBefore;
      o.onProgress = (d, t) => opts.onProgress!(base + d, base + t);
    }
    const result = scanMemory(p.memory, o);
    doneBefore += result.bytesScanned;
    const ps: ProcessScan = { process: p, result };
    if (p.pid !== undefined) ps.pid = p.pid;
    out.push(ps);
  }
  return out;
}

/**
 * Numbers threads the same way in every kind of image: the main thread (tid = pid) first, then by
 * tid (creation order, short of tid wrap-around). Cores list the dumping thread first; CRIU lists
 * pstree order.
 */
export function numberThreads(threads: ScanThread[], pid?: number): ScanThread[] {
  const sorted = [...threads].sort(
    (a, b) => Number(b.tid === pid) - Number(a.tid === pid) || (a.tid ?? 0) - (b.tid ?? 0),
  );
  sorted.forEach((t, i) => {
    t.index = i + 1;
  });
  return sorted;
}

function u64le(b: Uint8Array, off: number): bigint {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(off, true);
}

/** Threads and memory of an opened ELF core (cores do not record sigaltstacks). */
export function elfCoreTarget(oc: OpenCore, name: string): ScanTarget {
  const core = oc.core;
  const threads: ScanThread[] = core.threads.map((t, i) => {
    const st: ScanThread = { index: i + 1, tid: t.tid, sp: t.regs.rsp, ip: t.regs.rip };
    let fpu: ThreadFpu | undefined;
    if (t.xstate && t.xstate.length >= 576) {
      fpu = {
        source: "NT_X86_XSTATE",
        xstateBv: u64le(t.xstate, 512),
        xfeatures: u64le(t.xstate, 464),
        size: t.xstate.length,
        mxcsr: new DataView(t.xstate.buffer, t.xstate.byteOffset).getUint32(24, true),
        mxcsrMask: new DataView(t.xstate.buffer, t.xstate.byteOffset).getUint32(28, true),
        xsave: t.xstate,
      };
      const lost =
        oc.xsave.gdbQuirk && oc.xsave.gdbQuirk.confidence !== "possible" ? oc.xsave.gdbQuirk.lost : [];
      if (lost.length)
        fpu.notes = [`the note does not hold ${lost.join(", ")} (gdb wrote it with other offsets)`];
    } else if (t.fpregs && t.fpregs.length >= 512) {
      fpu = {
        source: "NT_PRFPREG",
        size: t.fpregs.length,
        xstateBv: 3n,
        mxcsr: new DataView(t.fpregs.buffer, t.fpregs.byteOffset).getUint32(24, true),
        mxcsrMask: new DataView(t.fpregs.buffer, t.fpregs.byteOffset).getUint32(28, true),
      };
    }
    if (fpu) st.fpu = fpu;
    return st;
  });
  const notes = [...core.warnings];
  notes.push(
    "ELF cores do not record sigaltstack settings: a thread's stack is the mapping that holds its sp",
  );
  const memory = oc.memory;
  // The core's segments are disjoint and sorted: a mapping overlaps one iff the last segment
  // starting below its end reaches past its start (binary search, not a scan per mapping).
  const loads = [...memory.regions()].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const overlapsLoad = (e: { start: bigint; end: bigint }) => {
    let lo = 0;
    let hi = loads.length - 1;
    let last = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (loads[mid]!.start < e.end) {
        last = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return last >= 0 && loads[last]!.end > e.start;
  };
  const otherMappings = (core.files?.entries ?? [])
    .filter((e) => !overlapsLoad(e))
    .map((e) => ({ start: e.start, end: e.end, name: e.name }));
  const pid = core.psinfo?.pid;
  let presentBytes = 0;
  for (const ph of core.programHeaders)
    if (ph.type === PT_LOAD) presentBytes += Math.max(0, Math.min(ph.filesz, core.source.size - ph.offset));
  const proc: ScanProcess = {
    memory,
    threads: numberThreads(threads, pid),
    regionsKnown: true,
    otherMappings,
    presentBytes,
  };
  if (pid !== undefined) proc.pid = pid;
  return {
    kind: "elf-core",
    name,
    processes: [proc],
    profile: oc.profile,
    notes,
    core: { xsave: oc.xsave, writtenByGdb: core.writtenByGdb },
  };
}

/** Every process of a CRIU checkpoint: gpregs sp/ip, the saved sigaltstack, fpregs/xsave. */
export function checkpointTarget(cp: Checkpoint, name: string): ScanTarget {
  const processes: ScanProcess[] = cp.processes.map((p) => {
    const threads: ScanThread[] = p.threads.map((t, i) => {
      const s = t.state;
      const st: ScanThread = { index: i + 1, tid: t.tid, sp: s.gpregs.sp, ip: s.gpregs.ip };
      if (s.altstack && s.altstack.size > 0n && (s.altstack.flags & 2) === 0) st.altstack = s.altstack;
      const fpu: ThreadFpu = {
        source: `core-${t.tid}.img fpregs${s.fpregs.xsave ? "+xsave" : ""}`,
        xstateBv: s.xstateBv ?? 3n,
        mxcsr: s.fpregs.mxcsr,
        mxcsrMask: s.fpregs.mxcsrMask,
      };
      st.fpu = fpu;
      return st;
    });
    let presentBytes = 0;
    for (const r of p.memory.runs) if (r.fileOffset >= 0) presentBytes += Number(r.end - r.start);
    return {
      pid: p.pid,
      memory: p.memory,
      threads: numberThreads(threads, p.pid),
      regionsKnown: true,
      presentBytes,
    };
  });
  const t: ScanTarget = { kind: "criu", name, processes, notes: [], checkpoint: cp };
  if (cp.cpu) {
    t.profile = cp.cpu;
    t.cpuSource = "cpuinfo.img";
  }
  return t;
}

/** A raw memory image at `base`; optionally one thread whose stack pointer (and altstack) is known. */
export function rawTarget(
  src: ByteSource,
  base: bigint,
  name: string,
  thread?: { sp?: bigint; altstack?: { sp: bigint; size: bigint } },
): ScanTarget {
  const memory = new RawMemory(src, base);
  const threads: ScanThread[] = [];
  if (thread?.sp !== undefined) {
    const t: ScanThread = { index: 1, sp: thread.sp };
    if (thread.altstack) t.altstack = { ...thread.altstack, flags: 0 };
    threads.push(t);
  }
  const notes = [
    thread?.sp === undefined
      ? "raw image: no threads, registers or mappings; frames are checked for their own consistency only and none is high (give --sp for a thread's stack pointer)"
      : "raw image: one thread with the given stack pointer; no mappings or permissions known",
  ];
  return {
    kind: "raw",
    name,
    processes: [{ memory, threads, regionsKnown: false, presentBytes: src.size }],
    notes,
  };
}
