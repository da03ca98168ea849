/**
 * From a scanned checkpoint or core to the frames `check` evaluates on the destination:
 *
 * - every live (high-confidence) frame found on a thread's stack, as its bytes sit in the image:
 *   on B, after restore, the handler returns and B's kernel sigreturns from exactly these bytes;
 * - every thread's own FPU state, as CRIU's restorer rebuilds it on B (its sigreturn frame).
 *
 * Low-confidence frames are not live and are not evaluated (they are listed in the notes).
 */
import type { FrameCase, Placement } from "../compat/frames.ts";
import { amxRestorerFrame, criuFrame } from "../compat/frames.ts";
import type { ThreadAltstack } from "../compat/sigstack.ts";
import { InvalidDataError, UsageError } from "../errors.ts";
import { bitsOf, hasBit, hex } from "../hex.ts";
import type { Profile } from "../profile.ts";
import { standardPlacement } from "../sigframe/fpstate.ts";
import { XFEATURE } from "../xsave/components.ts";
import { computeLayout, type XsaveLayout } from "../xsave/layout.ts";
import { type FrameSize, writerLayout, writes } from "./frame-fit.ts";
import { FRAME_BYTES_TAKEN } from "./geometry.ts";
import type { FoundFrame } from "./scan.ts";
import { type ProcessScan, type ScanTarget, scanTarget, settleSourceCpu } from "./targets.ts";

/** XTILECFG and XTILEDATA. */
const AMX_MASK = (1n << BigInt(XFEATURE.XTILECFG)) | (1n << BigInt(XFEATURE.XTILEDATA));

/** Where the source wrote each component the frame holds (its xstate_bv), in the source's layout. */
export function framePlacements(f: FoundFrame, from: XsaveLayout): Placement[] {
  const out: Placement[] = [];
  for (const b of bitsOf(f.xstateBv | 3n)) {
    const c = standardPlacement(from, b);
    if (c) out.push({ bit: b, offset: c.offset, size: c.size });
  }
  return out;
}

/**
 * A live frame that the source layout did not write (its xstate_size/xfeatures are not the
 * layout's): written on another CPU or kernel configuration (a process that was migrated while in
 * its handler), or the source layout is wrong. `writer` is the layout it was read with instead,
 * where one vendor layout explains it; without one its components were located with the source's.
 */
export interface FrameMismatch {
  id: string;
  frame: FrameSize;
  writer?: XsaveLayout;
}

export interface ScanCases {
  frames: FrameCase[];
  /** What each live frame says of its writer, in order. */
  live: FrameSize[];
  /** The live frames the source layout did not write. */
  mismatches: FrameMismatch[];
  /** What the process uses: the OR of every thread's and every live frame's xstate_bv. */
  uses: bigint;
  notes: string[];
}

function who(pid: number | undefined, tid: number | undefined, index: number): string {
  const t = tid === undefined ? `thread ${index}` : `thread ${index} (tid ${tid})`;
  return pid === undefined ? t : `pid ${pid} ${t}`;
}

/** One frame case for a found live frame: its bytes from the image, at its address. */
export function foundFrameCase(
  f: FoundFrame,
  scan: ProcessScan,
  from: XsaveLayout,
  id: string,
  description: string,
  style: "checkpoint" | "core" = "checkpoint",
): FrameCase {
  const mem = scan.process.memory;
  const region = f.region;
  const mapped = region ? Number(region.end - f.fpstate) : f.sw.extendedSize;
  const want = Math.max(f.sw.extendedSize, Math.min(mapped, FRAME_BYTES_TAKEN));
  // A frame is only found when all its extended_size bytes are present (candidate.ts).
  const bytes = mem.read(f.fpstate, want) ?? mem.read(f.fpstate, f.sw.extendedSize);
  if (!bytes)
    throw new InvalidDataError(`the frame's FPU area at ${hex(f.fpstate)} is not all present in the image`, {
      path: id,
    });
  return {
    id,
    style,
    description,
    fpstate: bytes,
    address: f.fpstate,
    readableBytes: Math.max(bytes.length, mapped),
    placements: framePlacements(f, from),
    writtenBytes: f.sw.extendedSize,
    xstateSize: f.sw.xstateSize,
    mxcsr: f.mxcsr,
  };
}

/** The frame cases of every live frame and every thread's state, for `check --checkpoint/--core`. */
export function scanCases(
  scans: ProcessScan[],
  from: XsaveLayout,
  to: XsaveLayout,
  image: "checkpoint" | "core" = "checkpoint",
): ScanCases {
  const frames: FrameCase[] = [];
  const notes: string[] = [];
  const live: FrameSize[] = [];
  const mismatches: FrameMismatch[] = [];
  let uses = 3n;
  const multi = scans.length > 1;
  for (const s of scans) {
    const pid = multi ? s.pid : undefined;
    const pfx = pid === undefined ? "" : `p${pid}-`;
    for (const t of s.result.threads) {
      const th = t.thread;
      const tname = th.tid ?? th.index;
      for (const f of t.frames) {
        if (f.confidence !== "high") continue;
        uses |= f.xstateBv;
        const id = `${pfx}t${tname}-d${f.depth}`;
        const size = { xfeatures: f.sw.xfeatures, xstateSize: f.sw.xstateSize };
        live.push(size);
        // Each frame is read with the layout that wrote it: the source's, or the one vendor
        // layout that gives its size where the source's does not (frame-fit.ts).
        let writer = from;
        if (!writes(from, size)) {
          const w = writerLayout(size, `the writer of ${id}`);
          mismatches.push(w ? { id, frame: size, writer: w } : { id, frame: size });
          if (w) writer = w;
        }
        frames.push(
          foundFrameCase(
            f,
            s,
            writer,
            id,
            `${who(pid, th.tid, th.index)}: depth-${f.depth} ${f.signalName} frame at ${hex(f.ucontext)} (fpstate ${hex(f.fpstate)}), as the ${image} holds it`,
            image,
          ),
        );
      }
      const bv = th.fpu?.xstateBv ?? 3n;
      uses |= bv;
      const opts: Parameters<typeof criuFrame>[2] = { uses: bv };
      if (th.fpu?.mxcsr !== undefined) opts.mxcsr = th.fpu.mxcsr;
      if (th.fpu?.mxcsrMask !== undefined) opts.fromMxcsrMask = th.fpu.mxcsrMask;
      // A thread with tile state, restored on a destination whose task has AMX permission again
      // (check --amx): an AMX-aware restorer carries it; CRIU's images have no AMX fields.
      const amx = hasBit(to.userFeatures, XFEATURE.XTILEDATA) && (bv & AMX_MASK) !== 0n;
      const c = amx ? amxRestorerFrame(from, to, opts) : criuFrame(from, to, opts);
      c.id = `${pfx}t${tname}-state`;
      c.description = `${who(pid, th.tid, th.index)}: its own FPU state (xstate_bv ${hex(bv)}), as ${amx ? "a restorer that requests AMX permission again (--amx; CRIU 4.2 has no AMX fields)" : "CRIU's restorer"} rebuilds it on the destination`;
      frames.push(c);
    }
    const low = s.result.frames.filter((f) => f.confidence !== "high").length;
    if (low)
      notes.push(
        `${low} frame-shaped area${low === 1 ? " is" : "s are"} not a live frame (see 'sigframe scan') and ${low === 1 ? "is" : "are"} not evaluated`,
      );
  }
  const n = frames.filter((f) => f.style === image).length;
  notes.push(
    `evaluated ${n} live signal frame${n === 1 ? "" : "s"} found on the stacks and ${frames.length - n} thread state${frames.length - n === 1 ? "" : "s"}`,
  );
  return { frames, live, mismatches, uses, notes };
}

/**
 * What `check --checkpoint DIR` / `check --core FILE` takes from the image: the source host it
 * records (where it does), what the process used, and the frames to evaluate.
 */
export interface CheckpointFrames {
  profile?: Profile;
  uses?: bigint;
  frames: FrameCase[];
  notes?: string[];
  /** What each live frame says of its writer (kernel frames state xstate_size and xfeatures). */
  live?: FrameSize[];
  /** Live frames the source layout did not write, and the layout each was read with. */
  mismatches?: FrameMismatch[];
  /** Each thread's sigaltstack, where the image records it (CRIU thread_core.sas). */
  altstacks?: ThreadAltstack[];
}

/** `checkpoint dump`, `core S2.core`; a name that already says what it is stays as it is (`core`). */
export function imageName(image: "checkpoint" | "core", path: string): string {
  const base = path.replace(/\/+$/, "").split("/").pop() || path;
  return base.toLowerCase().includes(image) ? base : `${image} ${base}`;
}

/**
 * Scans a checkpoint or core and turns it into frame cases. The source layout is `from` (a
 * `--from` profile) or the CPU the image records (for a CRIU checkpoint: cpuinfo.img, dump.log or
 * core-*.img, settleSourceCpu); the source profile is named after the image (`imageName`), with
 * MXCSR_MASK from the threads' saved FXSAVE images where the profile lacks it.
 */
export function checkpointFrames(
  target: ScanTarget,
  path: string,
  from: XsaveLayout | undefined,
  to: XsaveLayout,
): CheckpointFrames {
  const scans = scanTarget(target);
  settleSourceCpu(target, scans);
  return scannedFrames([{ target, scans }], path, from, to);
}

/** Frame cases of images already scanned: one image, or every container of a pod archive. */
export function scannedFrames(
  parts: readonly { target: ScanTarget; scans: ProcessScan[] }[],
  path: string,
  from: XsaveLayout | undefined,
  to: XsaveLayout,
): CheckpointFrames {
  const first = parts.find((p) => p.target.profile)?.target;
  const la = from ?? (first?.profile ? computeLayout(first.profile) : undefined);
  if (!la)
    throw new UsageError(
      "the checkpoint does not record its CPU (no cpuinfo.img, no dump.log at log level 4, no XSAVE state); pass --from",
      { input: path },
    );
  const out: CheckpointFrames = { uses: 3n, frames: [], notes: [], live: [], mismatches: [] };
  const notes: string[] = [];
  let uses = 3n;
  for (const { target, scans } of parts) {
    const cases = scanCases(scans, la, to, target.kind === "criu" ? "checkpoint" : "core");
    const pfx = parts.length > 1 ? `${target.container?.name ?? target.name}/` : "";
    for (const f of cases.frames) f.id = `${pfx}${f.id}`;
    out.frames.push(...cases.frames);
    out.live!.push(...cases.live);
    for (const m of cases.mismatches) out.mismatches!.push({ ...m, id: `${pfx}${m.id}` });
    uses |= cases.uses;
    notes.push(...cases.notes.map((n) => (pfx ? `${pfx} ${n}` : n)));
    if (target.cpuSource && target.cpuSource !== "cpuinfo.img" && !from)
      notes.push(`source CPU from ${target.cpuSource}: ${target.profile?.notes[0] ?? ""}`.trim());
  }
  out.uses = uses;
  out.notes = notes;
  const altstacks: ThreadAltstack[] = [];
  for (const { target, scans } of parts) {
    const pfx = parts.length > 1 ? `${target.container?.name ?? target.name}/` : "";
    for (const s of scans)
      for (const t of s.process.threads)
        if (t.altstack)
          altstacks.push({
            thread: `${pfx}pid ${s.pid ?? s.process.pid ?? "?"} thread ${t.tid ?? t.index}`,
            sp: t.altstack.sp,
            size: t.altstack.size,
            flags: t.altstack.flags,
          });
  }
  if (altstacks.length) out.altstacks = altstacks;
  if (first?.profile) {
    const image = first.kind === "criu" ? "checkpoint" : "core";
    const p: Profile = { ...first.profile, name: imageName(image, path) };
    const mask = parts.flatMap((x) => x.scans.flatMap((s) => s.process.threads)).find((t) => t.fpu?.mxcsrMask)
      ?.fpu?.mxcsrMask;
    if (p.mxcsrMask === undefined && p.observed?.mxcsrMask === undefined && mask) p.mxcsrMask = mask;
    out.profile = p;
  }
  return out;
}
