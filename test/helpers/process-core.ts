/**
 * A process made in the test: threads that took signals (nested, on a sigaltstack or not), with
 * each frame placed and written as the kernel delivers it (get_sigframe(): the red zone, the
 * altstack switch, fpu__alloc_mathframe()'s 64-byte alignment; the frame by the codec in kernel
 * style for a layout), and that process written as an ELF core the way the kernel or gdb 13
 * writes one. Tests of the scanner, `check --core` and the core profile use it so they run
 * without ../shared and on any CPU.
 */
import { bigintToLe } from "../../src/core/hex.ts";
import { fpstateForSp, frameForFpstate, RED_ZONE } from "../../src/core/scan/geometry.ts";
import { buildFrame } from "../../src/core/sigframe/build.ts";
import { parseStateText } from "../../src/core/sigframe/state-json.ts";
import { standardSize, type XsaveLayout } from "../../src/core/xsave/layout.ts";
import {
  auxv,
  buildCore,
  type LoadSpec,
  layoutNote,
  type NoteSpec,
  NT_AUXV,
  NT_GDB_TDESC,
  NT_PRSTATUS,
  NT_X86_XSAVE_LAYOUT,
  NT_X86_XSTATE,
  prstatus,
} from "../core/elf/build.ts";

export interface Region {
  start: bigint;
  size: number;
  perm?: "r-x" | "rw-";
}

export interface Signal {
  signo: number;
  /** SA_ONSTACK: delivered on the thread's sigaltstack (switching to it unless already on it). */
  onstack?: boolean;
  /** Register values the interrupted code had (STATE.json names: "zmm3", "k2", "ymm1" …). */
  regs?: Record<string, string>;
  /** The frame was written by a kernel on another layout (a process migrated while in its handler). */
  layout?: XsaveLayout;
  /** The handler was installed without SA_SIGINFO (signal()): the kernel leaves siginfo unwritten. */
  noSiginfo?: boolean;
}

export interface SimThread {
  tid: number;
  /** rsp of the code the first signal interrupts. */
  sp: bigint;
  altstack?: { sp: bigint; size: bigint };
  signals: Signal[];
  /** The task enabled AMX tile data: its frames use the layout's AMX size. */
  amx?: boolean;
  /** XSTATE_BV of the thread's own state in the core's NT_X86_XSTATE (default x87|SSE). */
  xstateBv?: bigint;
}

export interface SimFrame {
  tid: number;
  depth: number;
  signo: number;
  frame: bigint;
  ucontext: bigint;
  fpstate: bigint;
  onAltstack: boolean;
  xstateSize: number;
  xfeatures: bigint;
}

export interface SimProcess {
  pid: number;
  layout: XsaveLayout;
  regions: (Region & { bytes: Uint8Array })[];
  threads: {
    tid: number;
    sp: bigint;
    rip: bigint;
    amx: boolean;
    xstateBv: bigint;
    altstack?: { sp: bigint; size: bigint };
  }[];
  frames: SimFrame[];
}

/** Code lives here: rip and sa_restorer point into it. */
export const TEXT = 0x400000n;
const RESTORER = TEXT + 0x1230n;
const HANDLER_USE = 0x100n;

/** Delivers each thread's signals, in order, into the given memory. */
export function simulate(
  layout: XsaveLayout,
  threads: SimThread[],
  regions: Region[],
  pid = threads[0]?.tid ?? 1000,
): SimProcess {
  const mem = [{ start: TEXT, size: 0x2000, perm: "r-x" as const }, ...regions].map((r) => ({
    ...r,
    perm: r.perm ?? ("rw-" as const),
    bytes: new Uint8Array(r.size),
  }));
  const put = (addr: bigint, b: Uint8Array) => {
    const r = mem.find((x) => addr >= x.start && addr + BigInt(b.length) <= x.start + BigInt(x.size));
    if (!r) throw new Error(`0x${addr.toString(16)}+${b.length} is in no region`);
    r.bytes.set(b, Number(addr - r.start));
  };
  const frames: SimFrame[] = [];
  const out: SimProcess["threads"] = [];
  for (const t of threads) {
    // A task that asked for AMX (ARCH_REQ_XCOMP_PERM): every XCR0 component is in its frames.
    const task: XsaveLayout = t.amx
      ? {
          ...layout,
          userFeatures: layout.xcr0,
          userSize: standardSize(layout, layout.xcr0),
          frame: {
            xstateSize: standardSize(layout, layout.xcr0),
            extendedSize: standardSize(layout, layout.xcr0) + 4,
          },
          components: layout.components.map((c) =>
            !c.supervisor && (layout.xcr0 >> BigInt(c.bit)) & 1n ? { ...c, enabled: true } : c,
          ),
        }
      : layout;
    let sp = t.sp;
    let rip = TEXT + 0x100n;
    const as = t.altstack;
    t.signals.forEach((s, i) => {
      const writer = s.layout ?? task;
      const onAlt = as !== undefined && sp > as.sp && sp <= as.sp + as.size;
      const switching = s.onstack && as !== undefined && !onAlt;
      // get_sigframe(): skip the red zone, or start at the top of the altstack.
      const top = switching ? as!.sp + as!.size : sp - BigInt(RED_ZONE);
      const ext = writer.userSize + 4;
      const fpstate = fpstateForSp(top, ext);
      const frame = frameForFpstate(fpstate);
      const state: Record<string, string> = {
        ...(s.regs ?? {}),
        rsp: `0x${sp.toString(16)}`,
        rip: `0x${rip.toString(16)}`,
        eflags: "0x246",
        pretcode: `0x${RESTORER.toString(16)}`,
        ...(s.noSiginfo
          ? {}
          : {
              si_signo: String(s.signo),
              si_code: "0xfffffffa", // SI_TKILL
              sifields: `0x${BigInt(pid).toString(16)}`, // si_pid
            }),
      };
      if (as) {
        state.ss_sp = `0x${as.sp.toString(16)}`;
        state.ss_size = `0x${as.size.toString(16)}`;
        state.ss_flags = onAlt ? "1" : "0";
      }
      const built = buildFrame({
        style: "kernel",
        layout: writer,
        state: parseStateText(JSON.stringify(state), "sim"),
        base: frame,
      });
      if (built.fpstateOffset !== Number(fpstate - frame))
        throw new Error("the codec placed the FPU area elsewhere than the kernel would");
      put(frame, built.bytes);
      frames.push({
        tid: t.tid,
        depth: i + 1,
        signo: s.signo,
        frame,
        ucontext: frame + 8n,
        fpstate,
        onAltstack: as !== undefined && frame >= as.sp && fpstate + BigInt(ext) <= as.sp + as.size,
        xstateSize: writer.userSize,
        xfeatures: writer.userFeatures,
      });
      // The handler runs below its frame.
      sp = frame - HANDLER_USE;
      rip = TEXT + 0x200n + BigInt(i);
    });
    out.push({
      tid: t.tid,
      sp,
      rip,
      amx: Boolean(t.amx),
      xstateBv: t.xstateBv ?? 3n,
      ...(t.altstack ? { altstack: t.altstack } : {}),
    });
  }
  return { pid, layout, regions: mem, threads: out, frames };
}

export interface CoreOptions {
  /** `kernel`: notes as the kernel writes them; `gdb`: gdb 13's (NT_GDB_TDESC, its own XSTATE). */
  writer?: "kernel" | "gdb";
  /** NT_X86_XSAVE_LAYOUT (kernels since 6.11); default for the kernel writer. */
  layoutNote?: boolean;
  /** NT_X86_XSTATE as gdb writes it: this size and XCR0 (gdb 13 on any CPU: 2688, its own XCR0). */
  gdbXstate?: { size: number; xcr0: bigint };
  /** AT_MINSIGSTKSZ; default what the kernel derives from the layout's max_size. */
  atMinSigStkSz?: number | null;
  /** The region holding the initial process stack (AT_RANDOM points into it). */
  mainStack?: bigint;
}

const AT_RANDOM = 25;
const AT_MINSIGSTKSZ = 51;

/** The process as an ELF core. */
export function elfCore(p: SimProcess, o: CoreOptions = {}): Uint8Array {
  const writer = o.writer ?? "kernel";
  const l = p.layout;
  const notes: NoteSpec[] = [];
  // NT_PRPSINFO: only pr_pid matters here.
  const psinfo = new Uint8Array(136);
  new DataView(psinfo.buffer).setInt32(24, p.pid, true);
  notes.push({ owner: "CORE", type: 3, desc: psinfo });
  const a: [number, bigint][] = [];
  const minsig = o.atMinSigStkSz === undefined ? l.maxUserSize + 944 : o.atMinSigStkSz;
  if (minsig !== null) a.push([AT_MINSIGSTKSZ, BigInt(minsig)]);
  if (o.mainStack !== undefined) a.push([AT_RANDOM, o.mainStack]);
  notes.push({ owner: "CORE", type: NT_AUXV, desc: auxv(a) });
  for (const t of p.threads) {
    notes.push({ owner: "CORE", type: NT_PRSTATUS, desc: prstatus(t.tid, t.sp, t.rip) });
    const size = writer === "gdb" ? (o.gdbXstate?.size ?? 2688) : l.maxUserSize;
    const xcr0 = writer === "gdb" ? (o.gdbXstate?.xcr0 ?? 0xe7n) : l.xcr0;
    const x = new Uint8Array(size);
    const dv = new DataView(x.buffer);
    dv.setUint16(0, 0x37f, true);
    dv.setUint32(24, 0x1f80, true);
    dv.setUint32(28, 0xffff, true);
    x.set(bigintToLe(xcr0, new Uint8Array(8)), 464);
    dv.setBigUint64(512, writer === "gdb" ? t.xstateBv & xcr0 : t.xstateBv, true);
    notes.push({ owner: "LINUX", type: NT_X86_XSTATE, desc: x });
  }
  if (writer === "kernel" && (o.layoutNote ?? true)) {
    const entries: [number, number, number][] = l.components
      .filter((c) => c.bit >= 2 && !c.supervisor && (l.xcr0 >> BigInt(c.bit)) & 1n)
      .map((c) => [c.bit, c.size, c.offset]);
    notes.push({ owner: "LINUX", type: NT_X86_XSAVE_LAYOUT, desc: layoutNote(entries) });
  }
  if (writer === "gdb")
    notes.push({ owner: "GDB", type: NT_GDB_TDESC, desc: new TextEncoder().encode("<target/>") });
  const loads: LoadSpec[] = p.regions.map((r) => ({
    vaddr: r.start,
    data: r.bytes,
    flags: r.perm === "r-x" ? 5 : 6,
  }));
  return buildCore(notes, loads);
}
