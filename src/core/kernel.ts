/** Kernel release strings: `6.18`, `6.18.44`, `7.1-rc6`, or a full `uname -r` like `6.18.44-fc-v657`. */
import { UsageError } from "./errors.ts";

export interface KernelVersion {
  major: number;
  minor: number;
  /** Stable patch level; undefined when only X.Y was given. */
  patch?: number;
  /** Release candidate number for mainline -rcN. */
  rc?: number;
  /** The text as given. */
  text: string;
}

export function parseKernelVersion(text: string): KernelVersion {
  const m = /^v?(\d+)\.(\d+)(?:\.(\d+))?(?:-rc(\d+))?(?:[-+~_].*)?$/.exec(text.trim());
  if (!m) throw new UsageError(`not a kernel version: ${JSON.stringify(text)} (expected X.Y[.Z][-rcN])`);
  const v: KernelVersion = { major: Number(m[1]), minor: Number(m[2]), text: text.trim() };
  if (m[3] !== undefined) v.patch = Number(m[3]);
  if (m[4] !== undefined) v.rc = Number(m[4]);
  return v;
}

/**
 * Compares a version with X.Y(-rcN): negative if `v` is older. A release X.Y.Z counts as after
 * every X.Y-rcN; X.Y without patch counts as the final X.Y release.
 */
export function compareKernel(v: KernelVersion, major: number, minor: number, rc?: number): number {
  if (v.major !== major) return v.major - major;
  if (v.minor !== minor) return v.minor - minor;
  const a = v.rc ?? Number.POSITIVE_INFINITY;
  const b = rc ?? Number.POSITIVE_INFINITY;
  return a === b ? 0 : a < b ? -1 : 1;
}

export function atLeast(v: KernelVersion, major: number, minor: number, rc?: number): boolean {
  return compareKernel(v, major, minor, rc) >= 0;
}

/**
 * Distribution kernels by their release suffix: their X.Y names the upstream base, and the vendor
 * backports fixes into it for years, so a sigreturn change (dc8aa31a7ac2, its revert 44eeff9bc467)
 * may be in a release whose base predates it, or missing from one that should have it.
 */
const DISTRIBUTIONS: readonly [RegExp, string][] = [
  [/\.el(\d+)uek\b/, "Oracle Linux UEK"],
  [/\.el(\d+)(?:_\d+)?\b/, "Red Hat Enterprise Linux $1 (or CentOS Stream, AlmaLinux, Rocky Linux)"],
  [/\.fc(\d+)\b/, "Fedora $1"],
  [/\.amzn(\d+)\b/, "Amazon Linux $1"],
  [/-\d+(?:\.\d+)*-(?:generic|lowlatency|lowmem|aws|azure|gcp|gke|oracle|kvm|ibm|nvidia|raspi)\b/, "Ubuntu"],
  [/-\d+(?:\.\d+)*-(?:cloud-|rt-)?(?:amd64|arm64)\b/, "Debian"],
  [/-(?:\d+(?:\.\d+)*-)?default\b/, "SUSE Linux Enterprise or openSUSE"],
  [/-android\d+/, "Android (GKI)"],
];

/** The distribution a release string belongs to, where its suffix says (`5.14.0-427.el9` → RHEL 9). */
export function distributionOf(release: string): string | undefined {
  for (const [re, name] of DISTRIBUTIONS) {
    const m = re.exec(release);
    if (m) return name.replace("$1", m[1] ?? "");
  }
  return undefined;
}
