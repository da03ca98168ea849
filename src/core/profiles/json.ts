/**
 * JSON profile formats read: sigframe's own `sigframe-profile/1` (written by to-json.ts for
 * `layout --save-profile` and `host --save`) and the cpuid-corpus schema. Both are validated; a
 * failure names the JSON path.
 */
import { z } from "zod";
import { Cpuid, type CpuidLeaf } from "../cpuid/cpuid.ts";
import { InvalidDataError } from "../errors.ts";
import type { ObservedFrame, Profile } from "../profile.ts";
import { xsaveLeafProblem } from "../xsave/limits.ts";

import { PROFILE_FORMAT } from "./to-json.ts";

export { PROFILE_FORMAT, profileToJson } from "./to-json.ts";

/** Most CPUID leaves a JSON profile holds (real CPUs have a few hundred, sub-leaves included). */
export const MAX_PROFILE_LEAVES = 4096;
/**
 * Largest JSON profile read: MAX_PROFILE_LEAVES pretty-printed leaves and 100 notes of 1000
 * characters are about 1 MiB; the text is refused above 4 MiB before it is parsed.
 */
export const MAX_JSON_PROFILE_BYTES = 4 * 1024 * 1024;

const hex32 = z.string().regex(/^0x[0-9a-fA-F]{1,8}$/, "expected a 32-bit hex string like 0x0000000d");
const hex64 = z.string().regex(/^0x[0-9a-fA-F]{1,16}$/, "expected a 64-bit hex string like 0xe7");
const leafSchema = z.object({
  leaf: hex32,
  subleaf: hex32,
  eax: hex32,
  ebx: hex32,
  ecx: hex32,
  edx: hex32,
});
const size = z
  .number()
  .int()
  .min(0)
  .max(1 << 24);

const observedSchema = z.object({
  xstateSize: size,
  extendedSize: size,
  xfeatures: hex64,
  fpstateOffset: size,
  xstateBv: hex64.optional(),
  mxcsrMask: hex32.optional(),
});

export const sigframeProfileSchema = z.object({
  format: z.literal(PROFILE_FORMAT),
  name: z.string().min(1).max(200),
  vendor: z.string().max(12),
  family: z.number().int().min(0).max(0x1ff),
  model: z.number().int().min(0).max(0xff),
  stepping: z.number().int().min(0).max(0xf),
  brand: z.string().max(64).optional(),
  cpuid: z.array(leafSchema).min(1).max(MAX_PROFILE_LEAVES),
  xcr0: hex64.optional(),
  xinuse: hex64.optional(),
  kernel: z.string().max(200).optional(),
  atMinSigStkSz: size.optional(),
  mxcsrMask: hex32.optional(),
  observed: observedSchema.optional(),
  observedAmx: observedSchema.optional(),
  source: z.object({ kind: z.string(), path: z.string().optional() }).optional(),
  notes: z.array(z.string().max(1000)).max(100).optional(),
});

const corpusSchema = z.object({
  name: z.string(),
  vendor: z.string(),
  family: z.number().int(),
  model: z.number().int(),
  stepping: z.number().int(),
  leaves: z
    .array(leafSchema.extend({ subleaf_implicit: z.boolean().optional() }))
    .min(1)
    .max(MAX_PROFILE_LEAVES),
  xgetbv: z.object({ xcr0: hex64, xcr1: hex64.optional() }).optional(),
});

/** The leaves of `list` (at JSON path `key`), each held to the architecture's XSAVE bounds. */
function leavesOf(list: z.infer<typeof leafSchema>[], input: string, key: string): CpuidLeaf[] {
  return list.map((l, i) => {
    const leaf: CpuidLeaf = {
      leaf: Number.parseInt(l.leaf, 16) >>> 0,
      subleaf: Number.parseInt(l.subleaf, 16) >>> 0,
      eax: Number.parseInt(l.eax, 16) >>> 0,
      ebx: Number.parseInt(l.ebx, 16) >>> 0,
      ecx: Number.parseInt(l.ecx, 16) >>> 0,
      edx: Number.parseInt(l.edx, 16) >>> 0,
    };
    const problem = xsaveLeafProblem(leaf);
    if (problem) throw new InvalidDataError(problem.what, { input, path: `${key}/${i}/${problem.reg}` });
    return leaf;
  });
}

function zodFail(err: z.ZodError, input: string): InvalidDataError {
  const issue = err.issues[0]!;
  const path = issue.path.map(String).join("/") || "(top level)";
  return new InvalidDataError(`${issue.message}`, { input, path });
}

export type JsonProfileKind = "sigframe-profile" | "corpus" | "unknown";

export function jsonProfileKind(doc: unknown): JsonProfileKind {
  if (doc && typeof doc === "object" && !Array.isArray(doc)) {
    const o = doc as Record<string, unknown>;
    if (o.format === PROFILE_FORMAT) return "sigframe-profile";
    if (typeof o.format === "string") return "unknown";
    if (Array.isArray(o.leaves)) return "corpus";
  }
  return "unknown";
}

export function profileFromJson(doc: unknown, name: string): Profile {
  const kind = jsonProfileKind(doc);
  if (kind === "sigframe-profile") {
    const r = sigframeProfileSchema.safeParse(doc);
    if (!r.success) throw zodFail(r.error, name);
    const d = r.data;
    const cpuid = new Cpuid(leavesOf(d.cpuid, name, "cpuid"));
    const p: Profile = {
      name: d.name,
      source: { kind: d.source?.kind === "host" ? "host" : "sigframe-profile", path: name },
      vendor: d.vendor,
      family: d.family,
      model: d.model,
      stepping: d.stepping,
      cpuid,
      notes: d.notes ?? [],
    };
    if (d.brand !== undefined) p.brand = d.brand;
    if (d.xcr0 !== undefined) p.xcr0 = BigInt(d.xcr0);
    if (d.xinuse !== undefined) p.xinuse = BigInt(d.xinuse);
    if (d.kernel !== undefined) p.kernel = d.kernel;
    if (d.atMinSigStkSz !== undefined) p.atMinSigStkSz = d.atMinSigStkSz;
    if (d.mxcsrMask !== undefined) p.mxcsrMask = Number.parseInt(d.mxcsrMask, 16);
    if (d.observed) p.observed = observedFrom(d.observed);
    if (d.observedAmx) p.observedAmx = observedFrom(d.observedAmx);
    return p;
  }
  if (kind === "corpus") {
    const r = corpusSchema.safeParse(doc);
    if (!r.success) throw zodFail(r.error, name);
    const d = r.data;
    const cpuid = new Cpuid(leavesOf(d.leaves, name, "leaves"));
    const p: Profile = {
      name,
      source: { kind: "corpus", path: name },
      vendor: d.vendor,
      family: d.family,
      model: d.model,
      stepping: d.stepping,
      brand: d.name,
      cpuid,
      notes: [],
    };
    if (d.xgetbv) p.xcr0 = BigInt(d.xgetbv.xcr0);
    return p;
  }
  if (doc && typeof doc === "object" && typeof (doc as { format?: unknown }).format === "string") {
    throw new InvalidDataError(
      `unsupported profile format ${JSON.stringify((doc as { format: string }).format)}`,
      {
        input: name,
        path: "format",
      },
    );
  }
  throw new InvalidDataError(
    `JSON is neither a sigframe profile ("format": "${PROFILE_FORMAT}") nor a cpuid-corpus dump ("leaves": [...])`,
    { input: name },
  );
}

function observedFrom(o: z.infer<typeof observedSchema>): ObservedFrame {
  const out: ObservedFrame = {
    xstateSize: o.xstateSize,
    extendedSize: o.extendedSize,
    xfeatures: BigInt(o.xfeatures),
    fpstateOffset: o.fpstateOffset,
  };
  if (o.xstateBv !== undefined) out.xstateBv = BigInt(o.xstateBv);
  if (o.mxcsrMask !== undefined) out.mxcsrMask = Number.parseInt(o.mxcsrMask, 16);
  return out;
}
