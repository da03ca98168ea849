/**
 * The native helper's protocol (native/*.c): `cpuid` and `frame` print one JSON document each;
 * `probe` takes its cases on stdin as lines and prints one JSON object per line (a header, a
 * `start` line before each case, the case's result, a `done` line), so the output of a runtime
 * that died part-way still holds every finished case and names the one it died in. Validated here.
 */
import { z } from "zod";
import type { CpuidLeaf } from "../cpuid/cpuid.ts";
import { InvalidDataError } from "../errors.ts";
import { bytesToHex, hexToBytes } from "../hex.ts";
import type { AmxSetup, ProbeCase } from "./cases.ts";
import { emptyImage, type Isa, NVEC, type RegImage, VEC_BYTES } from "./regions.ts";

/** The helper protocol these functions speak (HELPER_PROTOCOL in native/helper.h). */
export const HELPER_PROTOCOL = 2;
/** Largest write the helper takes in one line. */
const MAX_WRITE = 4096;
/** Named write blocks the helper keeps (MAX_BLOCKS in native/probe.c). */
const MAX_BLOCKS = 64;
/** Writes shorter than this are not worth a block. */
const MIN_SHARED_WRITE = 16;

/** A case's writes as `write OFFSET HEX` lines, at most MAX_WRITE bytes each. */
function writeLines(c: ProbeCase): string[] {
  const out: string[] = [];
  for (const w of c.edit.writes) {
    for (let o = 0; o < w.bytes.length; o += MAX_WRITE) {
      out.push(`write ${w.offset + o} ${bytesToHex(w.bytes.subarray(o, o + MAX_WRITE))}`);
    }
  }
  return out;
}

/**
 * The helper's stdin for `probe`: the registers every case loads first (once), the writes two or
 * more cases share as named blocks (once; the pattern-F register writes of most cases), then every
 * case. What goes through a serial port to a guest stays small.
 */
export function encodeCases(cases: readonly ProbeCase[], initial: RegImage): string {
  const lines: string[] = [];
  for (let i = 0; i < NVEC; i++) lines.push(`zmm ${i} ${bytesToHex(initial.v[i]!)}`);
  for (let i = 0; i < 8; i++) lines.push(`k ${i} 0x${initial.k[i]!.toString(16)}`);
  lines.push(`mxcsr 0x${(initial.mxcsr >>> 0).toString(16)}`);
  // Tiles, like registers, once for every case that loads them (native/amx.c).
  const tiled = cases.find((c) => c.amx?.tiles)?.amx;
  if (tiled) lines.push(...tileLines(tiled));
  const perCase = cases.map(writeLines);
  const uses = new Map<string, number>();
  for (const ws of perCase) for (const w of new Set(ws)) uses.set(w, (uses.get(w) ?? 0) + 1);
  const blocks = new Map<string, string>();
  for (const [w, n] of uses) {
    if (n < 2 || w.length < "write 0 ".length + 2 * MIN_SHARED_WRITE || blocks.size >= MAX_BLOCKS) continue;
    const name = `w${blocks.size}`;
    blocks.set(w, name);
    lines.push(`def ${name}`, w, "enddef");
  }
  cases.forEach((c, i) => {
    lines.push(`case ${c.id}`);
    const p = c.edit.place;
    lines.push(
      p.kind === "copy"
        ? `place copy ${p.align}`
        : p.kind === "guard"
          ? `place guard ${p.readable}`
          : `place ${p.kind}`,
    );
    if (c.edit.copyLen !== undefined) lines.push(`copylen ${c.edit.copyLen}`);
    if (c.edit.nested) lines.push("nested");
    if (c.amx) lines.push(...amxLines(c.amx, tiled));
    for (const w of perCase[i]!) {
      const b = blocks.get(w);
      lines.push(b ? `use ${b}` : w);
    }
    lines.push("end");
  });
  return `${lines.join("\n")}\n`;
}

/** One AMX tile register: 16 rows of 64 bytes. */
export const TILE_BYTES = 1024;

function tileLines(a: AmxSetup): string[] {
  const out: string[] = [];
  if (a.tilecfg) out.push(`tilecfg ${bytesToHex(a.tilecfg)}`);
  for (let t = 0; a.tiles && t * TILE_BYTES < a.tiles.length; t++)
    out.push(`tile ${t} ${bytesToHex(a.tiles.subarray(t * TILE_BYTES, (t + 1) * TILE_BYTES))}`);
  return out;
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (!a || !b) return a === b;
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** A case's AMX lines (native/amx.c); its tiles only where they differ from the shared ones. */
function amxLines(a: AmxSetup, shared: AmxSetup | undefined): string[] {
  const out = [`amx ${a.mode}`];
  if (a.sasBefore !== undefined) out.push(`amx-sas-before ${a.sasBefore}`);
  if (a.sasAfter !== undefined) out.push(`amx-sas-after ${a.sasAfter}`);
  if (a.sasDeliver !== undefined) out.push(`amx-sas-deliver ${a.sasDeliver}`);
  if (a.tiles && !(sameBytes(a.tiles, shared?.tiles) && sameBytes(a.tilecfg, shared?.tilecfg)))
    out.push(...tileLines(a));
  return out;
}

const hexStr = z.string().regex(/^0x[0-9a-f]+$/);
const hexBytes = z.string().regex(/^([0-9a-f]{2})*$/);

export const frameSchema = z.object({
  ucFlags: hexStr,
  fpstateOffset: z.number().int(),
  fpstateAddress: hexStr,
  fpstateAlign: z.number().int(),
  /** What the frame claims (extended_size) where it is more than the helper captured. */
  extent: z.number().int().optional(),
  truncated: z.boolean().optional(),
  sw: z
    .object({
      magic1: hexStr,
      extendedSize: z.number().int(),
      xfeatures: hexStr,
      xstateSize: z.number().int(),
    })
    .optional(),
  mxcsr: hexStr.optional(),
  mxcsrMask: hexStr.optional(),
  magic2: hexStr.optional(),
  xstateBv: hexStr.optional(),
  xcompBv: hexStr.optional(),
  fpstate: hexBytes,
});

/** A system call's result as the helper reports it (native/amx.c): null when not made. */
const sysResult = z.enum(["ok", "ENOSPC", "ENOMEM", "EPERM", "EINVAL", "EFAULT", "error"]).nullable();

const caseSchema = z.object({
  id: z.string(),
  outcome: z.enum(["returned", "killed", "exited", "timeout", "skipped"]),
  signal: z.string().optional(),
  signalNumber: z.number().int().optional(),
  exitCode: z.number().int().optional(),
  error: z.string().optional(),
  skip: z.string().optional(),
  stderr: z.string().optional(),
  fault: z.object({ signal: z.string(), siCode: z.number().int(), siAddr: hexStr }).optional(),
  delivered: frameSchema.optional(),
  inner: frameSchema.extend({ outerIntact: z.boolean() }).optional(),
  placed: z.object({ address: hexStr, readable: z.number().int().min(0), fpstate: hexBytes }).optional(),
  regs: z.object({ v: z.array(hexBytes).max(NVEC), k: z.array(hexStr).max(8), mxcsr: hexStr }).optional(),
  amx: z.object({ perm: sysResult, sasBefore: sysResult, sasAfter: sysResult }).optional(),
  sasDeliver: z.object({ sas: sysResult, frameOffset: z.number().int().nullable() }).optional(),
  tiles: z.object({ cfg: hexBytes, data: hexBytes }).optional(),
});

const headerSchema = z.object({
  helper: z.literal("sigframe-helper"),
  protocol: z.literal(HELPER_PROTOCOL),
  isa: z.enum(["sse", "avx", "avx512"]),
  kBits: z.number().int(),
  xcr0: hexStr,
  fpstateLimit: z.number().int().min(512),
  cases: z.number().int().min(0),
});

/** A frame as a signal handler saw it. */
export interface FrameSeen {
  ucFlags: bigint;
  /** fpstate minus the ucontext address. */
  fpstateOffset: number;
  address: bigint;
  sw?: { magic1: number; extendedSize: number; xfeatures: bigint; xstateSize: number };
  magic2?: number;
  mxcsr?: number;
  mxcsrMask?: number;
  xstateBv?: bigint;
  xcompBv?: bigint;
  /** The fpstate bytes (up to extended_size, or 512 without magic1; at most the helper's limit). */
  bytes: Uint8Array;
  /** extended_size where the helper captured less of it (a frame beyond its limit). */
  truncatedAt?: number;
}

export interface CaseRun {
  id: string;
  /**
   * `skipped`: the helper could not apply the case to the frame it got (`skip` says why);
   * `crashed`: the runtime itself died while the case ran (not the helper's child).
   */
  outcome: "returned" | "killed" | "exited" | "timeout" | "skipped" | "crashed";
  /** Signal that killed the child. */
  signal?: string;
  exitCode?: number;
  skip?: string;
  /** What the child (or an emulator inside it) wrote to stderr; the runtime's, for `crashed`. */
  stderr?: string;
  /** The fault the child's SIGSEGV/SIGBUS handler saw before it died. */
  fault?: { signal: string; siCode: number; siAddr: bigint };
  error?: string;
  delivered?: FrameSeen;
  /** The fpstate handed to sigreturn: where, how many bytes are mapped, and its bytes. */
  placed?: { address: bigint; readable: number; bytes: Uint8Array };
  inner?: FrameSeen & { outerIntact: boolean };
  regs?: RegImage;
  /** AMX setup results: the permission request and the sigaltstack calls (null: not made). */
  amx?: { perm: string | null; sasBefore: string | null; sasAfter: string | null };
  /**
   * A signal delivered on a sigaltstack (`amx-sas-deliver`): the sigaltstack() result and where
   * the frame landed above ss_sp (null: not delivered). A frame that does not fit kills the
   * child (SIGSEGV) before this is reported.
   */
  sasDeliver?: { sas: string | null; frameOffset: number | null };
  /** Tile configuration and data read back after sigreturn (zero when not configured). */
  tiles?: { cfg: Uint8Array; data: Uint8Array };
}

export interface ProbeRun {
  isa: Isa;
  kBits: number;
  xcr0: bigint;
  /** The largest fpstate the helper captures and edits. */
  fpstateLimit: number;
  cases: CaseRun[];
  /** The case that had started when the output ended without its result (the runtime died). */
  inFlight?: string;
  /** The helper printed its `done` line. */
  complete: boolean;
}

export function decodeFrame(f: z.infer<typeof frameSchema>): FrameSeen {
  const out: FrameSeen = {
    ucFlags: BigInt(f.ucFlags),
    fpstateOffset: f.fpstateOffset,
    address: BigInt(f.fpstateAddress),
    bytes: hexToBytes(f.fpstate),
  };
  if (f.sw) {
    out.sw = {
      magic1: Number(f.sw.magic1),
      extendedSize: f.sw.extendedSize,
      xfeatures: BigInt(f.sw.xfeatures),
      xstateSize: f.sw.xstateSize,
    };
  }
  if (f.truncated && f.extent !== undefined) out.truncatedAt = f.extent;
  if (f.magic2 !== undefined) out.magic2 = Number(f.magic2);
  if (f.mxcsr !== undefined) out.mxcsr = Number(f.mxcsr);
  if (f.mxcsrMask !== undefined) out.mxcsrMask = Number(f.mxcsrMask);
  if (f.xstateBv !== undefined) out.xstateBv = BigInt(f.xstateBv);
  if (f.xcompBv !== undefined) out.xcompBv = BigInt(f.xcompBv);
  return out;
}

function decodeRegs(r: NonNullable<z.infer<typeof caseSchema>["regs"]>): RegImage {
  const img = emptyImage();
  r.v.forEach((h, i) => {
    const b = hexToBytes(h);
    img.v[i]!.set(b.subarray(0, VEC_BYTES));
  });
  r.k.forEach((h, i) => {
    img.k[i] = BigInt(h);
  });
  img.mxcsr = Number(r.mxcsr);
  return img;
}

const cpuidSchema = z.object({
  helper: z.literal("sigframe-helper"),
  protocol: z.literal(HELPER_PROTOCOL),
  cpu: z.number().int(),
  leaves: z
    .array(z.object({ leaf: hexStr, subleaf: hexStr, eax: hexStr, ebx: hexStr, ecx: hexStr, edx: hexStr }))
    .min(1)
    .max(4096),
  osxsave: z.boolean(),
  xcr0: hexStr.optional(),
  xinuse: hexStr.optional(),
  atMinSigStkSz: z.number().int().min(0),
  mxcsrMask: hexStr,
  isa: z.enum(["sse", "avx", "avx512"]),
  kBits: z.number().int(),
  uname: z.object({ sysname: z.string(), release: z.string(), version: z.string(), machine: z.string() }),
});

/** What `sigframe-helper cpuid` reports. */
export interface HelperCpuid {
  /** The logical CPU the helper ran on. */
  cpu: number;
  leaves: CpuidLeaf[];
  xcr0?: bigint;
  xinuse?: bigint;
  atMinSigStkSz: number;
  mxcsrMask: number;
  /** The register set the probe uses (from CPUID and XCR0). */
  isa: Isa;
  kBits: number;
  uname: { sysname: string; release: string; version: string; machine: string };
}

function parseDoc(text: string, input: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return invalidOutput(input, "not JSON");
  }
}

function schemaError(input: string, err: z.ZodError): never {
  const issue = err.issues[0]!;
  return invalidOutput(input, issue.message, issue.path.map(String).join("/"));
}

/** `sigframe-helper cpuid`'s document. */
export function decodeCpuidOutput(text: string, input = "sigframe-helper cpuid"): HelperCpuid {
  const r = cpuidSchema.safeParse(parseDoc(text, input));
  if (!r.success) schemaError(input, r.error);
  const d = r.data;
  const out: HelperCpuid = {
    cpu: d.cpu,
    leaves: d.leaves.map((l) => ({
      leaf: Number(l.leaf) >>> 0,
      subleaf: Number(l.subleaf) >>> 0,
      eax: Number(l.eax) >>> 0,
      ebx: Number(l.ebx) >>> 0,
      ecx: Number(l.ecx) >>> 0,
      edx: Number(l.edx) >>> 0,
    })),
    atMinSigStkSz: d.atMinSigStkSz,
    mxcsrMask: Number(d.mxcsrMask) >>> 0,
    isa: d.isa,
    kBits: d.kBits,
    uname: d.uname,
  };
  if (d.xcr0 !== undefined) out.xcr0 = BigInt(d.xcr0);
  if (d.xinuse !== undefined) out.xinuse = BigInt(d.xinuse);
  return out;
}

const frameDoc = frameSchema.extend({
  helper: z.literal("sigframe-helper"),
  protocol: z.literal(HELPER_PROTOCOL),
});

/** `sigframe-helper frame`'s document: the frame a plain signal gets. */
export function decodeFrameOutput(text: string, input = "sigframe-helper frame"): FrameSeen {
  const r = frameDoc.safeParse(parseDoc(text, input));
  if (!r.success) schemaError(input, r.error);
  return decodeFrame(r.data);
}

function invalidOutput(input: string, message: string, path = ""): never {
  throw new InvalidDataError(`unexpected helper output: ${message}`, { input, path });
}

function decodeCase(c: z.infer<typeof caseSchema>): CaseRun {
  const run: CaseRun = { id: c.id, outcome: c.outcome };
  if (c.signal !== undefined) run.signal = c.signal;
  if (c.exitCode !== undefined) run.exitCode = c.exitCode;
  if (c.error !== undefined) run.error = c.error;
  if (c.skip !== undefined) run.skip = c.skip;
  if (c.stderr !== undefined) run.stderr = c.stderr;
  if (c.fault) run.fault = { signal: c.fault.signal, siCode: c.fault.siCode, siAddr: BigInt(c.fault.siAddr) };
  if (c.delivered) run.delivered = decodeFrame(c.delivered);
  if (c.inner) run.inner = { ...decodeFrame(c.inner), outerIntact: c.inner.outerIntact };
  if (c.placed) {
    run.placed = {
      address: BigInt(c.placed.address),
      readable: c.placed.readable,
      bytes: hexToBytes(c.placed.fpstate),
    };
  }
  if (c.regs) run.regs = decodeRegs(c.regs);
  if (c.amx) run.amx = c.amx;
  if (c.sasDeliver) run.sasDeliver = c.sasDeliver;
  if (c.tiles) run.tiles = { cfg: hexToBytes(c.tiles.cfg), data: hexToBytes(c.tiles.data) };
  return run;
}

/**
 * The helper's `probe` output, one JSON object per line. Output that ends early (a runtime that
 * died) is not an error: the finished cases are returned, `inFlight` names the case that had
 * started, `complete` is false. A line cut short by the end of the output is ignored; anything
 * else that is not the protocol is invalid data.
 */
export function decodeProbeOutput(text: string, input = "sigframe-helper probe"): ProbeRun {
  const lines = text.split("\n");
  let header: z.infer<typeof headerSchema> | undefined;
  const cases: CaseRun[] = [];
  let started: string | undefined;
  let complete = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "") continue;
    let doc: unknown;
    try {
      doc = JSON.parse(line);
    } catch {
      if (lines.slice(i + 1).every((l) => l.trim() === "")) break; // cut short by the end
      invalidOutput(input, `line ${i + 1} is not JSON`);
    }
    if (!header) {
      const h = headerSchema.safeParse(doc);
      if (!h.success) {
        const issue = h.error.issues[0]!;
        invalidOutput(input, issue.message, issue.path.map(String).join("/"));
      }
      header = h.data;
      continue;
    }
    if (doc === null || typeof doc !== "object" || Array.isArray(doc))
      invalidOutput(input, `line ${i + 1} is not a JSON object`);
    const o = doc as Record<string, unknown>;
    if (typeof o.start === "string") {
      started = o.start;
      continue;
    }
    if (typeof o.done === "number") {
      complete = true;
      break;
    }
    const r = caseSchema.safeParse(doc);
    if (!r.success) {
      const issue = r.error.issues[0]!;
      invalidOutput(input, `line ${i + 1}: ${issue.message}`, issue.path.map(String).join("/"));
    }
    cases.push(decodeCase(r.data));
    started = undefined;
  }
  if (!header) invalidOutput(input, "no header line");
  const out: ProbeRun = {
    isa: header.isa,
    kBits: header.kBits,
    xcr0: BigInt(header.xcr0),
    fpstateLimit: header.fpstateLimit,
    cases,
    complete,
  };
  if (started !== undefined) out.inFlight = started;
  return out;
}
