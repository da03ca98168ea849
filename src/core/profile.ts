/**
 * A profile is a CPU plus what the OS enabled on it: identification, the raw CPUID leaves it came
 * with and, where known, XCR0, the kernel release and what a kernel-written frame looked like.
 * Every PROFILE source (cpuid -r, corpus JSON, sigframe-profile/1, built-in, host, CRIU
 * cpuinfo.img, ELF core) is turned into this one shape.
 */
import type { Cpuid } from "./cpuid/cpuid.ts";

export type ProfileSourceKind =
  | "builtin"
  | "cpuid-r"
  | "corpus"
  | "sigframe-profile"
  | "host"
  | "criu-cpuinfo"
  | "criu-dump-log"
  | "criu-core"
  | "elf-core";

/** What the kernel actually wrote in a signal frame on this host (from `sigframe host`). */
export interface ObservedFrame {
  xstateSize: number;
  extendedSize: number;
  xfeatures: bigint;
  /** uc_mcontext.fpstate minus the ucontext address. */
  fpstateOffset: number;
  xstateBv?: bigint;
  mxcsrMask?: number;
}

export interface Profile {
  /** Short name: built-in name, file name, or `host`. */
  name: string;
  source: { kind: ProfileSourceKind; path?: string };
  vendor: string;
  family: number;
  model: number;
  stepping: number;
  brand?: string;
  cpuid: Cpuid;
  /** XCR0 as read on the machine (XGETBV), where known. */
  xcr0?: bigint;
  /** Where `xcr0` comes from when it was not read with XGETBV (a core's note, frames' xfeatures). */
  xcr0Basis?: string;
  /** XGETBV(1): XINUSE at capture time, where known. */
  xinuse?: bigint;
  /** `uname -r` of the machine, where known. */
  kernel?: string;
  /** AT_MINSIGSTKSZ, where known. */
  atMinSigStkSz?: number;
  /** MXCSR_MASK from FXSAVE, where known (0 means the default 0xffbf). */
  mxcsrMask?: number;
  observed?: ObservedFrame;
  /**
   * Set when the CPUID leaves were rebuilt from what an image records (an ELF core, CRIU core
   * images, the layout CRIU logged in dump.log) rather than read from the CPU: why. Model,
   * stepping and CPUID(0xD,0) are then not measured values, and reports say so instead of printing
   * them; the family only where the record has it (dump.log), else it is not recorded either.
   */
  cpuidReconstructed?: string;
  /**
   * The frame the kernel wrote for a task that requested AMX tile data (ARCH_REQ_XCOMP_PERM)
   * and loaded tiles (`sigframe host` where XCR0 has tile data).
   */
  observedAmx?: ObservedFrame;
  /** Facts about how the profile was obtained that a user should see (missing sub-leaves, guesses). */
  notes: string[];
}

/** Identification of a profile's CPU; family, model and stepping are null where not recorded. */
export interface ProfileSummary {
  name: string;
  vendor: string;
  family: number | null;
  model: number | null;
  stepping: number | null;
  brand?: string;
}

export function profileSummary(p: Profile): ProfileSummary {
  const known = p.cpuidReconstructed === undefined;
  const s: ProfileSummary = {
    name: p.name,
    vendor: p.vendor,
    // No x86 CPU has family 0: a rebuilt profile's family is recorded where it is not 0 (dump.log).
    family: known || p.family > 0 ? p.family : null,
    model: known ? p.model : null,
    stepping: known ? p.stepping : null,
  };
  if (p.brand !== undefined) s.brand = p.brand;
  return s;
}

/**
 * `brand (vendor family F model M stepping S)`, or the signature alone without a brand string;
 * what is not recorded is said so, never printed as 0, with why (`cpuidReconstructed`) where known.
 */
export function describeCpu(s: Omit<ProfileSummary, "name">, why?: string): string {
  const vendor = s.vendor && s.vendor !== "unknown" ? s.vendor : "vendor unknown";
  const fields = (["family", "model", "stepping"] as const).filter((f) => s[f] !== null);
  const missing = (["family", "model", "stepping"] as const).filter((f) => s[f] === null);
  const sig = [vendor, ...fields.map((f) => `${f} ${s[f]}`)].join(" ");
  if (!missing.length) return s.brand ? `${s.brand} (${sig})` : sig;
  const gone = `${missing.length === 3 ? "family, model and stepping" : missing.join(" and ")} not recorded${why ? `: ${why}` : ""}`;
  return s.brand ? `${s.brand} (${sig}; ${gone})` : `${sig} (${gone})`;
}

/** describeCpu of a whole profile. */
export function describeProfile(p: Profile): string {
  return describeCpu(profileSummary(p), p.cpuidReconstructed);
}

/**
 * A short name for messages: the built-in or host name, else the file name (`arg` as given,
 * default the path the profile was read from) without its folder and `.json`, `.txt`, `.img`.
 */
export function displayName(p: Profile, arg: string = p.source.path ?? p.name): string {
  if (arg === "host" || p.source.kind === "builtin") return p.name;
  const base = arg.split("/").filter(Boolean).pop() ?? arg;
  return base.replace(/\.(json|txt|img)$/i, "");
}

/** A profile from raw CPUID leaves: vendor, family/model/stepping and brand read from them. */
export function profileFromCpuid(
  cpuid: Cpuid,
  name: string,
  source: Profile["source"],
  notes: string[] = [],
): Profile {
  const p: Profile = { name, source, vendor: cpuid.vendor(), ...cpuid.fms(), cpuid, notes };
  const brand = cpuid.brand();
  if (brand) p.brand = brand;
  return p;
}
