/**
 * What a found frame holds, register by register, and the frame as a file: the values rt_sigreturn
 * would load (zmm/ymm/xmm, k0-k7, PKRU, AMX tiles and their configuration, x87, MXCSR), decoded at
 * the offsets of the layout that wrote the frame (the image's source CPU where it wrote it, else
 * the one vendor layout that gives the frame's size, frame-fit.ts), and the bytes `inspect`,
 * `predict` and `translate` take (`scan --save-frames`).
 */
import { hex } from "../hex.ts";
import type { MemoryImage } from "../memory.ts";
import type { Profile } from "../profile.ts";
import { decodeFpstate, type Fpstate } from "../sigframe/fpstate.ts";
import { componentInfo, XFEATURE } from "../xsave/components.ts";
import { computeLayout, type XsaveLayout } from "../xsave/layout.ts";
import { writerLayout } from "./frame-fit.ts";
import { writes } from "./frame-size.ts";
import type { FoundFrame } from "./scan.ts";

/** The layout a frame is decoded with, and how it was chosen. */
export interface ReadAs {
  layout?: XsaveLayout;
  /** `source`: the image's CPU wrote it; `frame-size`: a vendor layout gives its size; `none`: only x87/SSE/YMM are where every CPU has them. */
  how: "source" | "frame-size" | "none";
  text: string;
}

/** Which layout wrote `f` (see the module comment). */
export function readAsFor(f: FoundFrame, source: Profile | undefined): ReadAs {
  const size = { xfeatures: f.sw.xfeatures, xstateSize: f.sw.xstateSize };
  if (source) {
    for (const l of [computeLayout(source), computeLayout(source, { amx: true })])
      if (writes(l, size)) return { layout: l, how: "source", text: "the image's source CPU" };
  }
  const w = writerLayout(size, "frame writer");
  if (w)
    return {
      layout: w,
      how: "frame-size",
      text: `${w.profile.vendor}'s standard layout (the only one that gives xstate_size ${size.xstateSize} for xfeatures ${hex(size.xfeatures)})`,
    };
  return {
    how: "none",
    text: "no layout gives this frame's size: only x87, SSE and YMM (at 576 on every CPU) are decoded",
  };
}

export interface FrameStateJson {
  readAs: string;
  /** Components whose state the frame holds (XSTATE_BV); the others load as init. */
  inUse: string[];
  mxcsr: string;
  x87: Record<string, string>;
  /** zmm0-31, zmm0-15, ymm0-15 or xmm0-15: the widest registers the layout has. */
  vectors: Record<string, string>;
  opmask?: Record<string, string>;
  pkru?: string;
  /** AMX: the tile configuration fields and tmm0-7. */
  tiles?: Record<string, string>;
}

/** The frame's FPU area (fpstate .. fpstate + extended_size), decoded with `readAs`. */
export function frameFpstate(f: FoundFrame, mem: MemoryImage, readAs: ReadAs): Fpstate | undefined {
  const bytes = mem.read(f.fpstate, f.sw.extendedSize);
  if (!bytes) return undefined;
  return decodeFpstate(bytes, readAs.layout ? { layout: readAs.layout } : {});
}

function componentRegs(fp: Fpstate, bit: number): Record<string, bigint> | undefined {
  const inUse = fp.header ? (fp.header.xstateBv >> BigInt(bit)) & 1n : 0n;
  const c = fp.components.find((x) => x.bit === bit);
  if (!c) return undefined;
  // What XRSTOR loads: the bytes for a component in XSTATE_BV, its init value (zero) otherwise.
  if (!inUse) return Object.fromEntries(Object.keys(c.registers).map((k) => [k, 0n]));
  return c.registers;
}

/** The registers a frame holds, for `scan --json`. */
export function frameStateJson(fp: Fpstate, readAs: ReadAs): FrameStateJson {
  const l = readAs.layout;
  const has = (bit: number) =>
    l ? l.components.some((c) => c.bit === bit && c.size > 0 && !c.supervisor) : bit === 2;
  const bv = fp.header?.xstateBv ?? 3n;
  const legacy = fp.legacy as unknown as Record<string, bigint>;
  const x87: Record<string, string> = {};
  for (const k of ["fcw", "fsw", "ftw"]) x87[k] = hex(legacy[k] ?? 0n);
  for (let i = 0; i < 8; i++) x87[`st${i}`] = hex(legacy[`st${i}`] ?? 0n);
  const ymmh = componentRegs(fp, XFEATURE.YMM);
  const zmmh = has(XFEATURE.ZMM_Hi256) ? componentRegs(fp, XFEATURE.ZMM_Hi256) : undefined;
  const hi16 = has(XFEATURE.Hi16_ZMM) ? componentRegs(fp, XFEATURE.Hi16_ZMM) : undefined;
  const vectors: Record<string, string> = {};
  const kind = zmmh ? "zmm" : ymmh ? "ymm" : "xmm";
  for (let i = 0; i < 16; i++) {
    let v = legacy[`xmm${i}`] ?? 0n;
    if (ymmh) v |= (ymmh[`ymmh${i}`] ?? 0n) << 128n;
    if (zmmh) v |= (zmmh[`zmmh${i}`] ?? 0n) << 256n;
    vectors[`${kind}${i}`] = hex(v);
  }
  if (hi16) for (let i = 16; i < 32; i++) vectors[`zmm${i}`] = hex(hi16[`zmm${i}`] ?? 0n);
  const out: FrameStateJson = {
    readAs: readAs.text,
    inUse: [...Array(64).keys()].filter((b) => (bv >> BigInt(b)) & 1n).map((b) => componentInfo(b).name),
    mxcsr: hex(legacy.mxcsr ?? 0n),
    x87,
    vectors,
  };
  const k = has(XFEATURE.OPMASK) ? componentRegs(fp, XFEATURE.OPMASK) : undefined;
  if (k) out.opmask = Object.fromEntries(Object.entries(k).map(([n, v]) => [n, hex(v)]));
  const pkru = has(XFEATURE.PKRU) ? componentRegs(fp, XFEATURE.PKRU) : undefined;
  if (pkru) out.pkru = hex(pkru.pkru ?? 0n);
  const cfg = has(XFEATURE.XTILECFG) ? componentRegs(fp, XFEATURE.XTILECFG) : undefined;
  const data = has(XFEATURE.XTILEDATA) ? componentRegs(fp, XFEATURE.XTILEDATA) : undefined;
  if (cfg || data) {
    const tiles: Record<string, string> = {};
    for (const [n, v] of Object.entries(cfg ?? {})) tiles[n] = hex(v);
    for (const [n, v] of Object.entries(data ?? {})) tiles[n] = hex(v);
    out.tiles = tiles;
  }
  return out;
}

/** A found frame as a file: its bytes from pretcode (the frame address) to the end of its FPU area. */
export function frameFileBytes(f: FoundFrame, mem: MemoryImage): Uint8Array | undefined {
  return mem.read(f.frame, Number(f.end - f.frame));
}

/** `t1234-d1-SIGUSR1.frame`, with the pid where an image holds several processes. */
export function frameFileName(f: FoundFrame, pid?: number): string {
  const t = f.thread ? `t${f.thread.tid ?? f.thread.index}` : "t0";
  return `${pid === undefined ? "" : `p${pid}-`}${t}-d${f.depth ?? 0}-${f.signalName.replace(/[^\w+-]/g, "_")}.frame`;
}

/** One live frame as `scan --save-frames` writes it, with what `index.json` says of it. */
export interface SavedFrame {
  file: string;
  bytes: Uint8Array;
  entry: {
    file: string;
    container?: string;
    pid?: number;
    thread?: { index: number; tid?: number };
    depth: number | null;
    signal: number;
    signalName: string;
    frame: string;
    fpstate: string;
    /** Where the FPU area starts in the file. */
    fpstateOffset: number;
    xstateSize: number;
    xfeatures: string;
    xstateBv: string;
    readAs: string;
  };
}

/** Every live frame of the scanned images, as files named after thread, depth and signal. */
export function savedFrames(
  parts: readonly {
    target: { name: string; profile?: Profile; container?: { name?: string } };
    scans: readonly { pid?: number; process: { memory: MemoryImage }; result: { frames: FoundFrame[] } }[];
  }[],
): SavedFrame[] {
  const out: SavedFrame[] = [];
  for (const { target, scans } of parts) {
    const prefix =
      parts.length > 1 ? `${(target.container?.name ?? target.name).replace(/[^\w.+-]/g, "_")}-` : "";
    for (const s of scans) {
      const pid = scans.length > 1 ? s.pid : undefined;
      for (const f of s.result.frames) {
        if (f.confidence !== "high") continue;
        const bytes = frameFileBytes(f, s.process.memory);
        if (!bytes) continue;
        const file = `${prefix}${frameFileName(f, pid)}`;
        const entry: SavedFrame["entry"] = {
          file,
          depth: f.depth,
          signal: f.signal,
          signalName: f.signalName,
          frame: hex(f.frame),
          fpstate: hex(f.fpstate),
          fpstateOffset: Number(f.fpstate - f.frame),
          xstateSize: f.sw.xstateSize,
          xfeatures: hex(f.sw.xfeatures),
          xstateBv: hex(f.xstateBv),
          readAs: readAsFor(f, target.profile).text,
        };
        if (parts.length > 1) entry.container = target.container?.name ?? target.name;
        if (s.pid !== undefined) entry.pid = s.pid;
        if (f.thread) entry.thread = f.thread;
        out.push({ file, bytes, entry });
      }
    }
  }
  return out;
}
