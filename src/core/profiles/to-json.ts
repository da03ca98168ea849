/**
 * The `sigframe-profile/1` document of a profile, as `layout --save-profile` and `host --save`
 * write it. Reading it back (validated) is json.ts; writing needs none of that, so a command that
 * only prints a profile does not load the validator.
 */
import { hex, hexPad } from "../hex.ts";
import type { ObservedFrame, Profile } from "../profile.ts";

export const PROFILE_FORMAT = "sigframe-profile/1" as const;

/** A CPUID leaf as the document holds it: every value an 8-digit hex string. */
export interface ProfileLeafJson {
  leaf: string;
  subleaf: string;
  eax: string;
  ebx: string;
  ecx: string;
  edx: string;
}

/** A delivered signal frame's sizes and masks, as the profile records them. */
export interface ObservedFrameJson {
  xstateSize: number;
  extendedSize: number;
  xfeatures: string;
  fpstateOffset: number;
  xstateBv?: string;
  mxcsrMask?: string;
}

/** `sigframe-profile/1`: a CPU and what the OS enabled on it (`host --json`, `layout --save-profile`). */
export interface ProfileJson {
  format: typeof PROFILE_FORMAT;
  name: string;
  vendor: string;
  family: number;
  model: number;
  stepping: number;
  brand?: string;
  xcr0?: string;
  xinuse?: string;
  /** The kernel release (`uname -r`) the profile was taken on. */
  kernel?: string;
  atMinSigStkSz?: number;
  mxcsrMask?: string;
  /** The signal frame this kernel delivered. */
  observed?: ObservedFrameJson;
  /** The frame it delivered to a task that had used AMX. */
  observedAmx?: ObservedFrameJson;
  source: { kind: Profile["source"]["kind"] };
  notes: string[];
  cpuid: ProfileLeafJson[];
}

/** The `sigframe-profile/1` document of a profile (hex strings for 32/64-bit values). */
export function profileToJson(p: Profile): ProfileJson {
  const doc: Omit<ProfileJson, "source" | "notes" | "cpuid"> & Partial<ProfileJson> = {
    format: PROFILE_FORMAT,
    name: p.name,
    vendor: p.vendor,
    family: p.family,
    model: p.model,
    stepping: p.stepping,
  };
  if (p.brand !== undefined) doc.brand = p.brand;
  if (p.xcr0 !== undefined) doc.xcr0 = hex(p.xcr0);
  if (p.xinuse !== undefined) doc.xinuse = hex(p.xinuse);
  if (p.kernel !== undefined) doc.kernel = p.kernel;
  if (p.atMinSigStkSz !== undefined) doc.atMinSigStkSz = p.atMinSigStkSz;
  if (p.mxcsrMask !== undefined) doc.mxcsrMask = hexPad(p.mxcsrMask, 8);
  if (p.observed) doc.observed = observedJson(p.observed);
  if (p.observedAmx) doc.observedAmx = observedJson(p.observedAmx);
  doc.source = { kind: p.source.kind };
  doc.notes = p.notes;
  doc.cpuid = p.cpuid.leaves.map((l) => ({
    leaf: hexPad(l.leaf, 8),
    subleaf: hexPad(l.subleaf, 8),
    eax: hexPad(l.eax, 8),
    ebx: hexPad(l.ebx, 8),
    ecx: hexPad(l.ecx, 8),
    edx: hexPad(l.edx, 8),
  }));
  return doc as ProfileJson;
}

function observedJson(f: ObservedFrame): ObservedFrameJson {
  const o: ObservedFrameJson = {
    xstateSize: f.xstateSize,
    extendedSize: f.extendedSize,
    xfeatures: hex(f.xfeatures),
    fpstateOffset: f.fpstateOffset,
  };
  if (f.xstateBv !== undefined) o.xstateBv = hex(f.xstateBv);
  if (f.mxcsrMask !== undefined) o.mxcsrMask = hexPad(f.mxcsrMask, 8);
  return o;
}
