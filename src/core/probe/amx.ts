/**
 * The probe's AMX cases: what the running kernel does for a task that asked for tile data
 * (arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)) and loaded tiles, for a task without that
 * permission, and with sigaltstacks around the request. Each case is computed from the host's
 * layout (offsets from CPUID leaf 0xD, sizes from the model) and compared with the model:
 *
 * - frame cases: a frame edit as in cases.ts, in a task whose tiles hold pattern A; the letters
 *   are the six register regions plus TILECFG (A: the configuration loaded, 0: init) and tile
 *   data (F, A, 0, M as for the registers);
 * - delivery cases: the frame the kernel writes (`xstate_size/sw.xfeatures/tile bits of
 *   xstate_bv`) against xsave/amx.ts deliveredFrame();
 * - system-call cases: ARCH_REQ_XCOMP_PERM (`perm`) and sigaltstack() (`sas`) results against
 *   sigframe/stack.ts;
 * - a fault case: a tile-data instruction without the permission (SIGILL, ILL_ILLOPC).
 *
 * Pure: no I/O. Without AMX tile data in XCR0 every case is skipped with the reason.
 */
import { bit, bitsOf, hasBit, hex } from "../hex.ts";
import type { Profile } from "../profile.ts";
import {
  altstackDelivery,
  type KernelConfig,
  MINSIGSTKSZ,
  minSigStkSz,
  permissionAltstackMinimum,
  sigaltstackCall,
  sigaltstackMinimum,
} from "../sigframe/stack.ts";
import type { Prediction } from "../sigreturn/types.ts";
import {
  type AmxTaskState,
  amxUnavailableReason,
  deliveredFrame,
  MASK_XTILE,
  tileDataInstruction,
} from "../xsave/amx.ts";
import { MASK_FPSSE, XFEATURE } from "../xsave/components.ts";
import { componentOf, computeLayout, type XsaveLayout } from "../xsave/layout.ts";
import {
  type AnalyzeContext,
  analyzeCase,
  type CaseResult,
  caseInput,
  type PolicyPrediction,
  PROBE_POLICIES,
  startResult,
} from "./analyze.ts";
import {
  type AmxSetup,
  type FrameEdit,
  type FrameWrite,
  HDR,
  type ProbeCase,
  regionWrites,
  SW,
  u32,
  u64,
} from "./cases.ts";
import { patterns } from "./patterns.ts";
import type { CaseRun } from "./protocol.ts";
import { TILE_BYTES } from "./protocol.ts";
import { type Isa, standardOffset } from "./regions.ts";

const NTILES = 8;
const TILECFG_BYTES = 64;
const BAD_MAGIC = 0;

/** Palette 1, eight tiles of 16 rows × 64 bytes (the whole register). */
export function tileConfig(): Uint8Array {
  const cfg = new Uint8Array(TILECFG_BYTES);
  cfg[0] = 1;
  for (let t = 0; t < NTILES; t++) {
    cfg[16 + 2 * t] = 64; // colsb[t], u16
    cfg[48 + t] = 16; // rows[t]
  }
  return cfg;
}

/** Tile data patterns: A loaded before the signal, F written into the frame. Never a zero byte. */
export function tilePattern(name: "A" | "F"): Uint8Array {
  let x = name === "A" ? 0x7a11e5a1 : 0x7f0e11d3;
  const out = new Uint8Array(NTILES * TILE_BYTES);
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = 1 + (x % 255);
  }
  return out;
}

/** What a case observes and how the model's answer is put in the same words. */
type Kind = "frame" | "delivery" | "syscalls" | "fault" | "sigaltstack";

export interface AmxProbeCase extends ProbeCase {
  amx: AmxSetup;
  kind: Kind;
  /** The task the frame is restored in (frame cases) or delivered from (delivery cases). */
  task: XsaveLayout;
  /** Components in use when the kernel writes the frame (delivery cases). */
  inUse?: bigint;
  /** The model's answer for syscalls and fault cases (policy-independent). */
  expected?: string;
  /** Why the model gives that answer. */
  because?: string;
}

export interface AmxCaseContext {
  /** The host as a task without the permission sees it (default user_size). */
  host: XsaveLayout;
  /** The same host for a task that has used tile data (user_size with XTILEDATA). */
  amxTask: XsaveLayout;
  isa: Isa;
  /** The kernel configuration the size model assumes (CONFIG_IA32_EMULATION). */
  config: KernelConfig;
}

/**
 * The AMX context of a profile: its default layout, the layout with tile data, and the kernel
 * configuration whose AT_MINSIGSTKSZ matches the measured one (IA32 emulation unless the
 * measured value says otherwise).
 */
export function amxCaseContextFor(profile: Profile, layout: XsaveLayout, isa: Isa): AmxCaseContext {
  const amxTask = computeLayout(profile, { amx: true });
  let config: KernelConfig = {};
  const measured = profile.atMinSigStkSz;
  if (
    measured !== undefined &&
    measured !== minSigStkSz(amxTask) &&
    measured === minSigStkSz(amxTask, { ia32Emulation: false })
  )
    config = { ia32Emulation: false };
  return { host: layout, amxTask, isa, config };
}

function tileName(bv: bigint): string {
  const cfg = hasBit(bv, XFEATURE.XTILECFG);
  const data = hasBit(bv, XFEATURE.XTILEDATA);
  return cfg && data ? "tiles" : cfg ? "tilecfg" : data ? "tiledata" : "no-tiles";
}

/** A delivered frame in the words delivery cases compare. */
export function frameWords(f: { xstateSize: number; xfeatures: bigint; xstateBv: bigint }): string {
  return `${f.xstateSize}/${hex(f.xfeatures)}/${tileName(f.xstateBv)}`;
}

interface Env {
  ctx: AmxCaseContext;
  /** Standard-format offsets in the AMX task's layout. */
  cfgOff: number;
  dataOff: number;
  /** Default user_size and features (a task that has not used tile data). */
  U0: number;
  X0: bigint;
  /** With tile data. */
  U1: number;
  X1: bigint;
}

function regs(e: Env, task: XsaveLayout): FrameWrite[] {
  return regionWrites(e.ctx.isa, patterns().F, (r) => standardOffset(task, r));
}

function tileSetup(mode: "tiles" | "release"): AmxSetup {
  return { mode, tilecfg: tileConfig(), tiles: tilePattern("A") };
}

const tileDataF = (e: Env): FrameWrite => ({ offset: e.dataOff, bytes: tilePattern("F") });

interface Def {
  id: string;
  kind: Kind;
  description: (e: Env) => string;
  /** The task the case runs in: one that used tile data, or one without the permission. */
  state: AmxTaskState;
  setup: (e: Env) => AmxSetup;
  edit?: (e: Env) => FrameEdit;
  inUse?: bigint;
  expect?: (e: Env) => { words: string; because: string };
  /** Why the case cannot run on this layout (it has AMX or not: that is `casesOf`'s skip). */
  skipIf?: (e: Env) => string | undefined;
}

const inPlace = (writes: FrameWrite[]): FrameEdit => ({ place: { kind: "inplace" }, writes });

/** A frame the size of a task that has not used tile data (xstate_size = default user_size). */
function defaultSizeFrame(e: Env, features: boolean): FrameWrite[] {
  const w = [
    ...regs(e, e.ctx.amxTask),
    tileDataF(e),
    u32(SW.xstateSize, e.U0),
    u32(SW.extendedSize, e.U0 + 4),
    u32(e.U1, BAD_MAGIC),
    u32(e.U0, 0x46505845),
  ];
  if (features) w.push(u64(SW.xfeatures, e.X0), u64(HDR.xstateBv, e.X0));
  return w;
}

/** An AMX task's frame (xstate_size with tile data, XTILECFG/XTILEDATA in xstate_bv) written into a copy. */
function amxSizedFrame(e: Env): FrameWrite[] {
  return [
    ...regs(e, e.ctx.host),
    u32(SW.xstateSize, e.U1),
    u32(SW.extendedSize, e.U1 + 4),
    u64(SW.xfeatures, e.X1),
    u64(HDR.xstateBv, e.X1),
    { offset: e.cfgOff, bytes: tileConfig() },
    tileDataF(e),
    u32(e.U1, 0x46505845),
  ];
}

const DEFS: readonly Def[] = [
  {
    id: "amx-frame",
    kind: "delivery",
    state: "in-use",
    description: (e) =>
      `frame of a task that requested tile data and loaded tiles: xstate_size ${e.U1}, XTILECFG and XTILEDATA in xstate_bv`,
    setup: () => tileSetup("tiles"),
    inUse: MASK_XTILE,
  },
  {
    id: "amx-untouched",
    kind: "frame",
    state: "in-use",
    description: () => "tiles loaded with pattern A, frame as delivered",
    setup: () => tileSetup("tiles"),
    edit: () => inPlace([]),
  },
  {
    id: "amx-patterns",
    kind: "frame",
    state: "in-use",
    description: (e) => `registers and the tile data at ${e.dataOff} overwritten with pattern F`,
    setup: () => tileSetup("tiles"),
    edit: (e) => inPlace([...regs(e, e.ctx.amxTask), tileDataF(e)]),
  },
  {
    id: "amx-xfeatures-without-tiledata",
    kind: "frame",
    state: "in-use",
    description: (e) =>
      `pattern F written, XTILEDATA (bit 18) cleared in sw.xfeatures (${hex(e.X1 & ~bit(XFEATURE.XTILEDATA))}), still set in xstate_bv`,
    setup: () => tileSetup("tiles"),
    edit: (e) =>
      inPlace([...regs(e, e.ctx.amxTask), tileDataF(e), u64(SW.xfeatures, e.X1 & ~bit(XFEATURE.XTILEDATA))]),
  },
  {
    id: "amx-xstate-bv-without-tiledata",
    kind: "frame",
    state: "in-use",
    description: () => "pattern F written, XTILEDATA cleared in xstate_bv",
    setup: () => tileSetup("tiles"),
    edit: (e) =>
      inPlace([...regs(e, e.ctx.amxTask), tileDataF(e), u64(HDR.xstateBv, e.X1 & ~bit(XFEATURE.XTILEDATA))]),
  },
  {
    id: "amx-default-size-frame",
    kind: "frame",
    state: "in-use",
    description: (e) =>
      `a non-AMX-sized frame in an AMX task: xstate_size ${e.U0}, xfeatures ${hex(e.X0)}, magic2 at ${e.U0} and not at ${e.U1}`,
    setup: () => tileSetup("tiles"),
    edit: (e) => inPlace(defaultSizeFrame(e, true)),
  },
  {
    id: "amx-default-size-all-features",
    kind: "frame",
    state: "in-use",
    description: (e) =>
      `xstate_size ${e.U0} with magic2 there, xfeatures and xstate_bv left full (XRSTOR reads tile data past xstate_size)`,
    setup: () => tileSetup("tiles"),
    edit: (e) => inPlace(defaultSizeFrame(e, false)),
  },
  {
    id: "amx-released",
    kind: "delivery",
    state: "in-use",
    description: () =>
      "tiles loaded, then TILERELEASE before the signal: the frame keeps its size, xstate_bv drops the tile bits",
    setup: () => tileSetup("release"),
    inUse: 0n,
  },
  {
    id: "amx-permission-only",
    kind: "delivery",
    state: "permitted",
    description: (e) => `permission granted, no tile instruction run: the frame stays at ${e.U0} bytes`,
    setup: () => ({ mode: "perm" }),
    inUse: 0n,
  },
  {
    id: "amx-tilecfg-without-permission",
    kind: "delivery",
    state: "no-permission",
    description: () =>
      "LDTILECFG without the permission: it runs (XFD arms tile data only) and the frame carries XTILECFG",
    setup: () => ({ mode: "cfg" }),
    inUse: bit(XFEATURE.XTILECFG),
  },
  {
    id: "amx-tiledata-without-permission",
    kind: "fault",
    state: "no-permission",
    description: () => "TILEZERO without the permission (XFD #NM)",
    setup: () => ({ mode: "touch" }),
    expect: () => {
      const t = tileDataInstruction("no-permission");
      return { words: `${t.signal} si_code ${t.signal ? t.siCode : 0}`, because: t.why };
    },
  },
  {
    id: "amx-frame-without-permission",
    kind: "frame",
    state: "no-permission",
    description: (e) =>
      `an AMX task's frame (xstate_size ${e.U1}, xfeatures ${hex(e.X1)}, tiles in xstate_bv) handed to a task without the permission (relocated copy)`,
    setup: () => ({ mode: "none" }),
    edit: (e) => ({ place: { kind: "copy", align: 0 }, writes: amxSizedFrame(e) }),
  },
  {
    id: "amx-tiledata-bits-without-permission",
    kind: "frame",
    state: "no-permission",
    description: (e) =>
      `xstate_size ${e.U0} but XTILEDATA set in sw.xfeatures and xstate_bv, tile data after it, in a task without the permission (relocated copy)`,
    setup: () => ({ mode: "none" }),
    edit: (e) => ({
      place: { kind: "copy", align: 0 },
      writes: [
        ...regs(e, e.ctx.host),
        u64(SW.xfeatures, e.X1),
        u64(HDR.xstateBv, e.X1),
        { offset: e.cfgOff, bytes: tileConfig() },
        tileDataF(e),
        u32(e.U0, 0x46505845),
      ],
    }),
  },
  {
    id: "amx-sigaltstack-below-minimum",
    kind: "syscalls",
    state: "no-permission",
    description: (e) =>
      `a sigaltstack of ${altstackForPermission(e) - 1} bytes (one below AT_MINSIGSTKSZ-style bound), then ARCH_REQ_XCOMP_PERM`,
    setup: (e) => ({ mode: "perm", sasBefore: altstackForPermission(e) - 1 }),
    expect: (e) => permissionWords(e, altstackForPermission(e) - 1),
  },
  {
    id: "amx-sigaltstack-at-minimum",
    kind: "syscalls",
    state: "no-permission",
    description: (e) => `a sigaltstack of ${altstackForPermission(e)} bytes, then ARCH_REQ_XCOMP_PERM`,
    setup: (e) => ({ mode: "perm", sasBefore: altstackForPermission(e) }),
    expect: (e) => permissionWords(e, altstackForPermission(e)),
  },
  {
    id: "amx-sigaltstack-after-permission",
    kind: "syscalls",
    state: "permitted",
    description: (e) => `ARCH_REQ_XCOMP_PERM, then a sigaltstack of ${altstackAfterPermission(e) - 1} bytes`,
    setup: (e) => ({ mode: "perm", sasAfter: altstackAfterPermission(e) - 1 }),
    expect: (e) => sigaltstackWords(e, altstackAfterPermission(e) - 1),
  },
  {
    id: "amx-sigaltstack-after-permission-minimum",
    kind: "syscalls",
    state: "permitted",
    description: (e) => `ARCH_REQ_XCOMP_PERM, then a sigaltstack of ${altstackAfterPermission(e)} bytes`,
    setup: (e) => ({ mode: "perm", sasAfter: altstackAfterPermission(e) }),
    expect: (e) => sigaltstackWords(e, altstackAfterPermission(e)),
  },
];

/**
 * A signal delivered with SA_ONSTACK on a page-aligned sigaltstack (native/amx.c
 * `amx-sas-deliver`): get_sigframe() places the fpstate 64-byte aligned below the stack's top and
 * the rt_sigframe 16-byte aligned below it (sigframe/stack.ts altstackDelivery()); a frame that
 * would start at or below ss_sp is not written ("overflowed sigaltstack") and the task dies of
 * SIGSEGV. An AMX task gets no sigaltstack its frame overflows: sigaltstack() refuses it first.
 */
const SAS_PAGE = 0x1000n;

/** The smallest page-aligned stack that holds a frame of `extendedSize` bytes of FPU area. */
export function smallestFittingAltstack(extendedSize: number): number {
  for (let n = 1; ; n++) if (altstackDelivery(SAS_PAGE, BigInt(n), extendedSize).fits) return n;
}

/** The stack of `sigaltstack-frame-fits`: the smallest that holds the frame, at least MINSIGSTKSZ. */
const fitSize = (e: Env) => Math.max(MINSIGSTKSZ, smallestFittingAltstack(e.U0 + 4));

function deliveryWords(
  e: Env,
  task: XsaveLayout,
  size: number,
  permitted: boolean,
): { words: string; because: string } {
  const call = sigaltstackCall(e.ctx.host, size, permitted ? e.U1 : undefined, e.ctx.config);
  if (call !== "ok")
    return {
      words: `sas ${call}`,
      because: `sigaltstack_size_valid(): with the AMX permission a sigaltstack must exceed ${altstackAfterPermission(e) - 1} bytes, else -ENOMEM`,
    };
  const ext = task.userSize + 4;
  const d = altstackDelivery(SAS_PAGE, BigInt(size), ext);
  const where = `get_sigframe(): fpstate = round_down(top - ${ext}, 64), frame = round_down(fpstate - 440, 16) - 8: ${d.frameBytes} bytes below the top of a ${size}-byte stack`;
  return d.fits
    ? { words: `frame at ss_sp+${d.room}`, because: where }
    : { words: "SIGSEGV", because: `${where}, at or below ss_sp: "overflowed sigaltstack", SIGSEGV` };
}

/** Delivery on a sigaltstack for a task without AMX (any CPU; these ids do not contain `amx`). */
const SAS_DEFS: readonly Def[] = [
  {
    id: "sigaltstack-frame-fits",
    kind: "sigaltstack",
    state: "no-permission",
    description: (e) =>
      `a signal on a sigaltstack of ${fitSize(e)} bytes, the smallest that holds this task's frame (xstate_size ${e.U0}) and sigaltstack() takes`,
    setup: (e) => ({ mode: "none", sasDeliver: fitSize(e) }),
    expect: (e) => deliveryWords(e, e.ctx.host, fitSize(e), false),
  },
  {
    id: "sigaltstack-frame-overflows",
    kind: "sigaltstack",
    state: "no-permission",
    description: (e) =>
      `a signal on a sigaltstack of ${fitSize(e) - 1} bytes, one too few for this task's frame`,
    setup: (e) => ({ mode: "none", sasDeliver: fitSize(e) - 1 }),
    expect: (e) => deliveryWords(e, e.ctx.host, fitSize(e) - 1, false),
    skipIf: (e) =>
      smallestFittingAltstack(e.U0 + 4) <= MINSIGSTKSZ
        ? `this task's frame (xstate_size ${e.U0}) fits in every sigaltstack that sigaltstack() takes (MINSIGSTKSZ ${MINSIGSTKSZ})`
        : undefined,
  },
];

/** Delivery on a sigaltstack in an AMX task with tiles loaded (after DEFS' sigaltstack cases). */
const AMX_SAS_DEFS: readonly Def[] = [
  {
    id: "amx-sigaltstack-frame-fits",
    kind: "sigaltstack",
    state: "in-use",
    description: (e) =>
      `tiles loaded, a signal on a sigaltstack of ${altstackAfterPermission(e)} bytes (the smallest sigaltstack() takes with the permission): the ${e.U1}-byte frame fits`,
    setup: (e) => ({ ...tileSetup("tiles"), sasDeliver: altstackAfterPermission(e) }),
    expect: (e) => deliveryWords(e, e.ctx.amxTask, altstackAfterPermission(e), true),
  },
  {
    id: "amx-sigaltstack-frame-refused",
    kind: "sigaltstack",
    state: "in-use",
    description: (e) =>
      `tiles loaded, a sigaltstack of ${altstackAfterPermission(e) - 1} bytes: refused before a frame could overflow it`,
    setup: (e) => ({ ...tileSetup("tiles"), sasDeliver: altstackAfterPermission(e) - 1 }),
    expect: (e) => deliveryWords(e, e.ctx.amxTask, altstackAfterPermission(e) - 1, true),
  },
];

/** validate_sigaltstack(): the smallest sigaltstack that lets ARCH_REQ_XCOMP_PERM succeed. */
function altstackForPermission(e: Env): number {
  return permissionAltstackMinimum(e.ctx.host, e.U1, e.ctx.config);
}

/** sigaltstack_size_valid(): the smallest sigaltstack accepted once the permission is granted. */
function altstackAfterPermission(e: Env): number {
  return sigaltstackMinimum(e.ctx.host, e.U1, e.ctx.config);
}

function permissionWords(e: Env, size: number): { words: string; because: string } {
  const need = altstackForPermission(e);
  const ok = size >= need;
  return {
    words: `sas ${sigaltstackCall(e.ctx.host, size, undefined, e.ctx.config)}, perm ${ok ? "ok" : "ENOSPC"}`,
    because: `validate_sigaltstack(): a thread's sigaltstack must hold AT_MINSIGSTKSZ ${minSigStkSz(e.ctx.host, e.ctx.config)} - max_size ${e.ctx.host.maxUserSize} + usize ${e.U1} = ${need} bytes, else -ENOSPC`,
  };
}

function sigaltstackWords(e: Env, size: number): { words: string; because: string } {
  return {
    words: `perm ok, sas ${sigaltstackCall(e.ctx.host, size, e.U1, e.ctx.config)}`,
    because: `sigaltstack_size_valid(): with the permission a sigaltstack must exceed ${altstackAfterPermission(e) - 1} bytes (max_frame_size - fpu_default_state_size + ${e.U1}), else -ENOMEM`,
  };
}

const ALL_AMX_DEFS: readonly Def[] = [...DEFS, ...AMX_SAS_DEFS];

export const AMX_CASE_IDS: readonly string[] = ALL_AMX_DEFS.map((d) => d.id);
/** The sigaltstack delivery cases that need no AMX. */
export const SIGALTSTACK_CASE_IDS: readonly string[] = SAS_DEFS.map((d) => d.id);

/** Every AMX case for this host; all skipped (with the reason) where it has no AMX tile data. */
export function amxProbeCases(ctx: AmxCaseContext): AmxProbeCase[] {
  return casesOf(ALL_AMX_DEFS, ctx, amxUnavailableReason(ctx.host));
}

/** Delivery on a sigaltstack for a task without AMX: every CPU with XSAVE. */
export function sigaltstackProbeCases(ctx: AmxCaseContext): AmxProbeCase[] {
  return casesOf(SAS_DEFS, ctx, ctx.host.xsave ? undefined : "no XSAVE: the frame is the FXSAVE-only one");
}

function casesOf(defs: readonly Def[], ctx: AmxCaseContext, skip: string | undefined): AmxProbeCase[] {
  const cfg = componentOf(ctx.amxTask, XFEATURE.XTILECFG);
  const data = componentOf(ctx.amxTask, XFEATURE.XTILEDATA);
  const e: Env = {
    ctx,
    cfgOff: cfg?.offset ?? 0,
    dataOff: data?.offset ?? 0,
    U0: ctx.host.userSize,
    X0: ctx.host.userFeatures,
    U1: ctx.amxTask.userSize,
    X1: ctx.amxTask.userFeatures,
  };
  return defs.map((d) => {
    const task = d.state === "in-use" ? ctx.amxTask : ctx.host;
    const why = skip ? (defs === SAS_DEFS ? skip : `no AMX: ${skip}`) : d.skipIf?.(e);
    if (why) {
      return {
        id: d.id,
        description: d.id,
        kind: d.kind,
        task,
        amx: { mode: "none" },
        edit: inPlace([]),
        skip: why,
      };
    }
    const c: AmxProbeCase = {
      id: d.id,
      description: d.description(e),
      kind: d.kind,
      task,
      amx: d.setup(e),
      edit: d.edit ? d.edit(e) : inPlace([]),
    };
    if (d.inUse !== undefined) c.inUse = d.inUse;
    if (d.expect) {
      const x = d.expect(e);
      c.expected = x.words;
      c.because = x.because;
    }
    return c;
  });
}

export function isAmxCase(c: ProbeCase): c is AmxProbeCase {
  return c.amx !== undefined && "kind" in c;
}

// ---- analysis ----

function allZero(b: Uint8Array): boolean {
  for (const x of b) if (x !== 0) return false;
  return true;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Two letters for the tile state: TILECFG (A: the configuration loaded before the signal, 0: init,
 * ? other) and tile data (F, A, 0, M: the frame's bytes that are not pattern F, ?).
 */
export function tileLetters(cfg: Uint8Array, data: Uint8Array, frameData: Uint8Array | undefined): string {
  const c = same(cfg, tileConfig()) ? "A" : allZero(cfg) ? "0" : "?";
  let d = "?";
  if (cfg[0] === 0 || allZero(data)) d = "0";
  else if (same(data, tilePattern("F"))) d = "F";
  else if (same(data, tilePattern("A"))) d = "A";
  else if (frameData && same(data, frameData)) d = "M";
  return c + d;
}

function bytesAt(frame: Uint8Array | null, off: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  if (frame && off < frame.length) out.set(frame.subarray(off, Math.min(frame.length, off + n)));
  return out;
}

/** The tile letters the model's prediction gives: each component from the frame bytes, or init. */
function predictedTiles(p: Prediction, frame: Uint8Array | null, task: XsaveLayout): string {
  const comp = (b: number) => p.components.find((c) => c.bit === b);
  const cfgC = componentOf(task, XFEATURE.XTILECFG);
  const dataC = componentOf(task, XFEATURE.XTILEDATA);
  const pc = comp(XFEATURE.XTILECFG);
  const pd = comp(XFEATURE.XTILEDATA);
  const cfg =
    pc?.result === "frame"
      ? bytesAt(frame, pc.offset ?? cfgC!.offset, TILECFG_BYTES)
      : new Uint8Array(TILECFG_BYTES);
  const data =
    pd?.result === "frame" && cfg[0] !== 0
      ? bytesAt(frame, pd.offset ?? dataC!.offset, NTILES * TILE_BYTES)
      : new Uint8Array(NTILES * TILE_BYTES);
  return tileLetters(cfg, data, bytesAt(frame, dataC?.offset ?? 0, NTILES * TILE_BYTES));
}

function samePrediction(
  words: string,
  because: string,
  p?: Prediction,
): Record<(typeof PROBE_POLICIES)[number], PolicyPrediction> {
  const out = {} as Record<(typeof PROBE_POLICIES)[number], PolicyPrediction>;
  for (const pol of PROBE_POLICIES) {
    out[pol] = { letters: words, path: p?.path ?? "xrstor", reason: "amx", detail: because };
  }
  return out;
}

/** Compares one AMX case's run with the model (same shape as analyzeCase()). */
export function analyzeAmxCase(c: AmxProbeCase, got: CaseRun | undefined, ctx: AnalyzeContext): CaseResult {
  if (c.kind === "frame") {
    const fctx: AnalyzeContext = { ...ctx, layout: c.task };
    const r = analyzeCase(c, got, fctx);
    const loadsTiles = c.amx.mode === "tiles";
    if (!loadsTiles || !got || !r.predictions) return r;
    const letters = /^[A-Z0-9?-]{6}$/;
    const placed = got.placed?.bytes ?? null;
    const dataOff = componentOf(c.task, XFEATURE.XTILEDATA)?.offset ?? 0;
    if (r.observed && letters.test(r.observed)) {
      r.observed += got.tiles
        ? tileLetters(got.tiles.cfg, got.tiles.data, bytesAt(placed, dataOff, NTILES * TILE_BYTES))
        : "??";
    }
    for (const pol of PROBE_POLICIES) {
      const pp = r.predictions[pol];
      if (!letters.test(pp.letters)) continue;
      const p = ctx.predict(caseInput(c, got, fctx, pol));
      pp.letters += predictedTiles(p, placed, c.task);
    }
    return r;
  }
  const { r, run } = startResult(c, got);
  if (!run) return r;
  if (run.error) r.notes.push(`helper: ${run.error}`);
  if (c.kind === "delivery") {
    const d = run.delivered;
    r.observed =
      d?.sw && d.xstateBv !== undefined
        ? frameWords({ xstateSize: d.sw.xstateSize, xfeatures: d.sw.xfeatures, xstateBv: d.xstateBv })
        : outcomeWords(run);
    const m = deliveredFrame(c.task, (c.inUse ?? 0n) | MASK_FPSSE);
    r.predictions = samePrediction(
      frameWords(m),
      `save_sw_bytes(): xstate_size = user_size ${m.xstateSize}, xfeatures = user_xfeatures ${hex(m.xfeatures)}; xstate_bv has the components in use (${bitsOf(m.xstateBv).join(",")}), XTILECFG/XTILEDATA only when not in init state (XFEATURE_MASK_SIGFRAME_INITOPT)`,
    );
    return r;
  }
  if (c.kind === "sigaltstack") {
    const d = run.sasDeliver;
    r.observed =
      d && d.sas !== "ok"
        ? `sas ${d.sas ?? "?"}`
        : d?.frameOffset !== null && d?.frameOffset !== undefined
          ? `frame at ss_sp+${d.frameOffset}`
          : outcomeWords(run);
    r.predictions = samePrediction(c.expected ?? "?", c.because ?? "");
    return r;
  }
  if (c.kind === "syscalls") {
    const a = run.amx;
    const words: string[] = [];
    if (c.amx.sasBefore !== undefined) words.push(`sas ${a?.sasBefore ?? "?"}`);
    words.push(`perm ${a?.perm ?? "?"}`);
    if (c.amx.sasAfter !== undefined) words.push(`sas ${a?.sasAfter ?? "?"}`);
    r.observed = a ? words.join(", ") : outcomeWords(run);
    r.predictions = samePrediction(c.expected ?? "?", c.because ?? "");
    return r;
  }
  // fault
  r.observed =
    run.outcome === "killed" && run.fault
      ? `${run.fault.signal} si_code ${run.fault.siCode}`
      : outcomeWords(run);
  if (run.fault) r.notes.push(`${run.fault.signal} si_code ${run.fault.siCode}`);
  r.predictions = samePrediction(c.expected ?? "?", c.because ?? "");
  return r;
}

function outcomeWords(run: CaseRun): string {
  if (run.outcome === "killed") return run.signal ?? "killed";
  if (run.outcome === "timeout") return "timeout";
  if (run.outcome === "returned") return "returned";
  return `exit ${run.exitCode ?? "?"}`;
}
