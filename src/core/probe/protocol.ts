/**
 * The native helper's probe protocol: cases go to its stdin as lines (see native/probe.c), the
 * results come back as one JSON document, validated here.
 */
import { z } from "zod";
import { InvalidDataError } from "../errors.ts";
import { bytesToHex, hexToBytes } from "../hex.ts";
import type { ProbeCase } from "./cases.ts";
import { emptyImage, type Isa, NVEC, type RegImage, VEC_BYTES } from "./regions.ts";

/** Largest write the helper takes in one line. */
const MAX_WRITE = 4096;

/** The helper's stdin for `probe`: every case with the registers to load first. */
export function encodeCases(cases: readonly ProbeCase[], initial: RegImage): string {
  const regs: string[] = [];
  for (let i = 0; i < NVEC; i++) regs.push(`zmm ${i} ${bytesToHex(initial.v[i]!)}`);
  for (let i = 0; i < 8; i++) regs.push(`k ${i} 0x${initial.k[i]!.toString(16)}`);
  regs.push(`mxcsr 0x${(initial.mxcsr >>> 0).toString(16)}`);
  const lines: string[] = [];
  for (const c of cases) {
    lines.push(`case ${c.id}`, ...regs);
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
    for (const w of c.edit.writes) {
      for (let o = 0; o < w.bytes.length; o += MAX_WRITE) {
        lines.push(`write ${w.offset + o} ${bytesToHex(w.bytes.subarray(o, o + MAX_WRITE))}`);
      }
    }
    lines.push("end");
  }
  return `${lines.join("\n")}\n`;
}

const hexStr = z.string().regex(/^0x[0-9a-f]+$/);
const hexBytes = z.string().regex(/^([0-9a-f]{2})*$/);

export const frameSchema = z.object({
  ucFlags: hexStr,
  fpstateOffset: z.number().int(),
  fpstateAddress: hexStr,
  fpstateAlign: z.number().int(),
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

const caseSchema = z.object({
  id: z.string(),
  outcome: z.enum(["returned", "killed", "exited", "timeout"]),
  signal: z.string().optional(),
  signalNumber: z.number().int().optional(),
  exitCode: z.number().int().optional(),
  error: z.string().optional(),
  fault: z.object({ signal: z.string(), siCode: z.number().int(), siAddr: hexStr }).optional(),
  delivered: frameSchema.optional(),
  inner: frameSchema.extend({ outerIntact: z.boolean() }).optional(),
  placed: z.object({ address: hexStr, readable: z.number().int().min(0), fpstate: hexBytes }).optional(),
  regs: z.object({ v: z.array(hexBytes).max(NVEC), k: z.array(hexStr).max(8), mxcsr: hexStr }).optional(),
});

const runSchema = z.object({
  helper: z.literal("sigframe-helper"),
  protocol: z.literal(1),
  isa: z.enum(["sse", "avx", "avx512"]),
  kBits: z.number().int(),
  xcr0: hexStr,
  cases: z.array(caseSchema),
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
  /** The fpstate bytes (up to extended_size, or 512 without magic1). */
  bytes: Uint8Array;
}

export interface CaseRun {
  id: string;
  outcome: "returned" | "killed" | "exited" | "timeout";
  /** Signal that killed the child. */
  signal?: string;
  exitCode?: number;
  /** The fault the child's SIGSEGV/SIGBUS handler saw before it died. */
  fault?: { signal: string; siCode: number; siAddr: bigint };
  error?: string;
  delivered?: FrameSeen;
  /** The fpstate handed to sigreturn: where, how many bytes are mapped, and its bytes. */
  placed?: { address: bigint; readable: number; bytes: Uint8Array };
  inner?: FrameSeen & { outerIntact: boolean };
  regs?: RegImage;
}

export interface ProbeRun {
  isa: Isa;
  kBits: number;
  xcr0: bigint;
  cases: CaseRun[];
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

export function decodeProbeOutput(doc: unknown, input = "sigframe-helper probe"): ProbeRun {
  const r = runSchema.safeParse(doc);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new InvalidDataError(`unexpected helper output: ${issue.message}`, {
      input,
      path: issue.path.map(String).join("/"),
    });
  }
  const d = r.data;
  return {
    isa: d.isa,
    kBits: d.kBits,
    xcr0: BigInt(d.xcr0),
    cases: d.cases.map((c) => {
      const run: CaseRun = { id: c.id, outcome: c.outcome };
      if (c.signal !== undefined) run.signal = c.signal;
      if (c.exitCode !== undefined) run.exitCode = c.exitCode;
      if (c.error !== undefined) run.error = c.error;
      if (c.fault)
        run.fault = { signal: c.fault.signal, siCode: c.fault.siCode, siAddr: BigInt(c.fault.siAddr) };
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
      return run;
    }),
  };
}
