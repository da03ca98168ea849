/**
 * Which sigreturn policy a kernel release implements (docs/policies.md has the table and its
 * evidence). Mainline: check_for_xstate() before v5.14; check_xstate_in_sigframe() from v5.14;
 * dc8aa31a7ac2 merged for v6.15; revert 44eeff9bc467 in v7.1-rc6, Cc stable.
 */
import { UsageError } from "../errors.ts";
import { compareKernel, distributionOf, type KernelVersion, parseKernelVersion } from "../kernel.ts";
import { POLICIES, type Policy } from "./types.ts";

/** The first 6.18 stable release measured with the revert (classic); earlier 6.18.y are unknown. */
export const MEASURED_CLASSIC_6_18 = 44;

/** The kernels of each policy (the table below in words), for reports. */
export const POLICY_KERNELS: Record<Policy, string> = {
  legacy: "Linux before v5.14",
  classic: "Linux v5.14 … v6.14, v7.1-rc6 and later, and stable trees with the revert 44eeff9bc467",
  refined: "Linux v6.15 … v7.1-rc5 and stable trees before the revert (dc8aa31a7ac2)",
};

/** The same, short (for messages). */
export const POLICY_KERNELS_SHORT: Record<Policy, string> = {
  legacy: "before v5.14",
  classic: "v5.14 … v6.14, v7.1-rc6+, stable trees with the revert",
  refined: "v6.15 … v7.1-rc5, stable trees before the revert",
};

export interface KernelPolicies {
  /** One policy when known; two (most likely first) when the release is ambiguous. */
  policies: Policy[];
  note?: string;
}

export function policiesForKernel(v: KernelVersion): KernelPolicies {
  const r = upstreamPolicies(v);
  const distro = distributionOf(v.text);
  if (!distro) return r;
  const base = `${v.major}.${v.minor}`;
  const article = /^[AEIOU]/.test(distro) ? "an" : "a";
  const note = `${v.text} is ${article} ${distro} kernel: the policy is read from its upstream base ${base}, but the distribution backports fixes into it, so its sigreturn checks may differ (dc8aa31a7ac2 or its revert 44eeff9bc467 backported or not); 'sigframe probe' on the machine measures it`;
  return { ...r, note: r.note ? `${r.note}; ${note}` : note };
}

/** The policies of the mainline or stable release X.Y[.Z][-rcN]. */
function upstreamPolicies(v: KernelVersion): KernelPolicies {
  const cmp = (maj: number, min: number, rc?: number) => compareKernel(v, maj, min, rc);
  if (cmp(5, 14) < 0 && !(v.major === 5 && v.minor === 14)) {
    return { policies: ["legacy"] };
  }
  if (v.major === 5 && v.minor === 14 && v.rc !== undefined) {
    // The rework landed in the v5.14 merge window: every 5.14-rc has it.
    return { policies: ["classic"] };
  }
  if (cmp(6, 15) < 0 && !(v.major === 6 && v.minor === 15)) return { policies: ["classic"] };
  if (v.major === 6 && v.minor === 15 && v.rc !== undefined) return { policies: ["refined"] };
  // From here on: v6.15 … v7.1-rc5 mainline carries dc8aa31a7ac2.
  if (cmp(7, 1, 6) >= 0) return { policies: ["classic"] };
  if (v.major === 7 && v.minor === 1) {
    return { policies: ["refined"] }; // 7.1-rc1 … rc5
  }
  if (v.patch === undefined || v.patch === 0 || v.rc !== undefined) {
    return { policies: ["refined"] };
  }
  if (v.major === 6 && v.minor >= 15 && v.minor <= 17) {
    return {
      policies: ["refined"],
      note: `the ${v.major}.${v.minor}.y stable series ended before the revert 44eeff9bc467 (6.17.y measured refined)`,
    };
  }
  if (v.major === 6 && v.minor === 18) {
    if (v.patch >= MEASURED_CLASSIC_6_18) {
      return {
        policies: ["classic"],
        note: `6.18.${MEASURED_CLASSIC_6_18} was measured with the revert 44eeff9bc467; later 6.18.y keep it`,
      };
    }
    return {
      policies: ["refined", "classic"],
      note: `6.18.y took the revert 44eeff9bc467 in a stable release at or before 6.18.${MEASURED_CLASSIC_6_18}; which one is not known, so ${v.text} gets both answers ('sigframe probe' tells on the machine)`,
    };
  }
  // 6.19.y, 7.0.y: stable series whose revert status is not known.
  return {
    policies: ["refined", "classic"],
    note: `${v.major}.${v.minor} shipped with dc8aa31a7ac2; whether the ${v.major}.${v.minor}.y stable series took the revert 44eeff9bc467 by ${v.text} is not known, so both answers are given`,
  };
}

/** The policies a verdict is judged by; none chosen means all three. */
export interface PolicyChoice {
  policies?: Policy[];
  note?: string;
}

/** A policy name from the command line; anything else is a usage error naming `input`. */
export function parsePolicy(text: string, input = "--policy"): Policy {
  if (!POLICIES.includes(text as Policy))
    throw new UsageError(`expected one of ${POLICIES.join(", ")}, got ${JSON.stringify(text)}`, { input });
  return text as Policy;
}

/** `--policy P` or `--kernel K` to the policies to judge by (all when neither is given). */
export function choosePolicies(policy: string | undefined, kernel: KernelVersion | undefined): PolicyChoice {
  if (policy !== undefined && kernel !== undefined)
    throw new UsageError("give --kernel or --policy, not both", { input: "--policy" });
  if (policy !== undefined) return { policies: [parsePolicy(policy)] };
  if (kernel !== undefined) {
    const k = policiesForKernel(kernel);
    const out: PolicyChoice = { policies: k.policies };
    if (k.note) out.note = k.note;
    return out;
  }
  return {};
}

/** The policies of a recorded destination kernel release (`uname -r`), if it parses. */
export function destinationPolicies(release: string): { policies: Policy[]; note: string } | undefined {
  let v: KernelVersion;
  try {
    v = parseKernelVersion(release);
  } catch {
    return undefined;
  }
  const k = policiesForKernel(v);
  return { policies: k.policies, note: `destination kernel ${release}${k.note ? `: ${k.note}` : ""}` };
}

/**
 * Without `--policy`/`--kernel`, a destination that records its kernel release (a host, a saved
 * host profile, a core) is judged by that kernel's policies.
 */
export function withDestinationKernel(chosen: PolicyChoice, release: string | undefined): PolicyChoice {
  if (chosen.policies || release === undefined) return chosen;
  return destinationPolicies(release) ?? chosen;
}
