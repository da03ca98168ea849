/**
 * Conformance of a Linux-ABI implementation (gVisor, QEMU linux-user, valgrind, a kernel under
 * test) with Linux: the probe ran under it, and every case is compared with what Linux does with
 * the same edited frame under the reference policy (the host kernel's). A case where it differs is
 * a deviation, with both sides in words. The frame it delivers is compared with the one Linux
 * writes for the same CPU (arch/x86/kernel/signal_64.c get_sigframe(), frame_uc_flags();
 * arch/x86/kernel/fpu/signal.c save_sw_bytes()).
 */
import { hex } from "../hex.ts";
import { parseKernelVersion } from "../kernel.ts";
import { type KernelPolicies, policiesForKernel } from "../sigreturn/policy.ts";
import type { Policy } from "../sigreturn/types.ts";
import { FP_XSTATE_MAGIC1, FP_XSTATE_MAGIC2 } from "../xsave/components.ts";
import type { XsaveLayout } from "../xsave/layout.ts";
import type { CaseResult } from "./analyze.ts";
import type { FrameSeen } from "./protocol.ts";
import { type ProbeJson, type ProbeReport, probeJson } from "./report.ts";
import { describeObserved } from "./words.ts";

/** How the reference policy was found. */
export type ReferenceBasis = "measured" | "kernel table";

export interface Reference {
  policy: Policy;
  /** The kernel release the policy is that of (this machine's). */
  kernel: string;
  basis: ReferenceBasis;
  note?: string;
}

export interface Deviation {
  id: string;
  description: string;
  linux: { observed: string; meaning: string; reason: string; detail: string };
  runtime: { observed: string; meaning: string; notes: string[] };
}

/**
 * The policy Linux implements on the host, the reference a runtime is compared with: the one the
 * native probe measured (`measured`, when it named one), else the kernel-version table's for
 * `release` (kernel.md §8), with a note where the table is not sure; classic where the release
 * does not parse.
 */
export function linuxReference(
  release: string,
  measured?: { policy: Policy | "unknown"; kernel: string },
): Reference {
  if (measured && measured.policy !== "unknown")
    return { policy: measured.policy, kernel: measured.kernel, basis: "measured" };
  let k: KernelPolicies;
  try {
    k = policiesForKernel(parseKernelVersion(release));
  } catch {
    return {
      policy: "classic",
      kernel: release,
      basis: "kernel table",
      note: "the release does not parse; classic assumed",
    };
  }
  const ref: Reference = { policy: k.policies[0]!, kernel: release, basis: "kernel table" };
  if (k.policies.length > 1) ref.note = `the table allows ${k.policies.join(" or ")}`;
  else if (k.note) ref.note = k.note;
  return ref;
}

/** A field of the delivered frame that is not what Linux writes. */
export interface DeliveryDeviation {
  field: string;
  linux: string;
  runtime: string;
  note?: string;
}

export interface ConformanceReport {
  /** The runtime's command line as given. */
  under: string;
  reference: Reference;
  probe: ProbeReport;
  delivery: DeliveryDeviation[];
  deviations: Deviation[];
  /** Cases where the runtime did what Linux does. */
  agreeing: string[];
  /** The runtime behaves as Linux: no deviation in any case or in the delivered frame. */
  conforms: boolean;
}

/** uc_flags Linux sets on a 64-bit frame: UC_FP_XSTATE (with XSAVE) | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS. */
function linuxUcFlags(xsave: boolean): bigint {
  return (xsave ? 0x1n : 0n) | 0x2n | 0x4n;
}

/**
 * fpstate − ucontext in a Linux x86-64 frame: the fpstate is 64-byte aligned, struct rt_sigframe
 * (440 bytes) goes below it, rounded down to 16 and 8 more for the return address
 * (align_sigframe()), and the ucontext follows pretcode: 448.
 */
export const LINUX_FPSTATE_OFFSET = 448;

/**
 * The frame the runtime delivered against the one Linux writes for a task with `layout` (a task
 * that has not asked for AMX tile data, as the helper has not).
 */
export function deliveryDeviations(frame: FrameSeen, layout: XsaveLayout): DeliveryDeviation[] {
  const out: DeliveryDeviation[] = [];
  const check = (field: string, linux: string, runtime: string, note?: string) => {
    if (linux !== runtime) out.push(note ? { field, linux, runtime, note } : { field, linux, runtime });
  };
  check("uc_flags", hex(linuxUcFlags(layout.xsave)), hex(frame.ucFlags));
  check("fpstate - ucontext", String(LINUX_FPSTATE_OFFSET), String(frame.fpstateOffset));
  check(
    "fpstate alignment",
    "64",
    String(Number(frame.address % 64n) === 0 ? 64 : Number(frame.address % 64n)),
  );
  if (!layout.xsave) return out;
  const sw = frame.sw;
  check("sw.magic1", hex(BigInt(FP_XSTATE_MAGIC1)), sw ? hex(BigInt(sw.magic1)) : "none");
  if (!sw || sw.magic1 !== FP_XSTATE_MAGIC1) return out;
  const amx =
    "Linux writes tile data only for a task that asked for it (arch_prctl(ARCH_REQ_XCOMP_PERM)); the helper did not";
  const bigger = sw.xstateSize > layout.userSize;
  check("sw.xstate_size", String(layout.userSize), String(sw.xstateSize), bigger ? amx : undefined);
  check("sw.extended_size", String(layout.userSize + 4), String(sw.extendedSize));
  check("sw.xfeatures", hex(layout.userFeatures), hex(sw.xfeatures), bigger ? amx : undefined);
  check(
    "magic2 at xstate_size",
    hex(BigInt(FP_XSTATE_MAGIC2)),
    frame.magic2 === undefined ? "none" : hex(BigInt(frame.magic2)),
  );
  if (frame.xstateBv !== undefined && (frame.xstateBv & ~sw.xfeatures) !== 0n) {
    out.push({
      field: "xstate_bv",
      linux: `a subset of xfeatures ${hex(sw.xfeatures)}`,
      runtime: hex(frame.xstateBv),
    });
  }
  return out;
}

/** How a case departs from what Linux does under `policy`, or undefined where it does the same. */
export function departure(c: CaseResult, policy: Policy): Deviation | undefined {
  if (c.skipped || !c.observed) return undefined;
  const p = c.predictions?.[policy];
  if (p && c.observed === p.letters && c.editApplied !== false) return undefined;
  const notes = [...c.notes];
  if (c.editApplied === false)
    notes.unshift("the frame handed to sigreturn is not the delivered frame with this edit");
  return {
    id: c.id,
    description: c.description,
    linux: p
      ? { observed: p.letters, meaning: describeObserved(p.letters), reason: p.reason, detail: p.detail }
      : {
          observed: "?",
          meaning: "not predicted: the frame was not reported",
          reason: "unknown",
          detail: "",
        },
    runtime: { observed: c.observed, meaning: describeObserved(c.observed), notes },
  };
}

export function conformanceReport(
  under: string,
  probe: ProbeReport,
  reference: Reference,
  delivery: DeliveryDeviation[],
): ConformanceReport {
  const deviations: Deviation[] = [];
  const agreeing: string[] = [];
  for (const c of probe.results) {
    if (c.skipped) continue;
    const d = departure(c, reference.policy);
    if (d) deviations.push(d);
    else agreeing.push(c.id);
  }
  return {
    under,
    reference,
    probe,
    delivery,
    deviations,
    agreeing,
    conforms: deviations.length === 0 && delivery.length === 0,
  };
}

/** `probe --under … --json`: the probe's document plus the runtime, the reference and the deviations. */
export interface ConformanceJson extends ProbeJson {
  under: string;
  reference: Reference;
  conforms: boolean;
  delivery: DeliveryDeviation[];
  deviations: Deviation[];
}

export function conformanceJson(r: ConformanceReport): ConformanceJson {
  return {
    under: r.under,
    reference: r.reference,
    conforms: r.conforms,
    ...probeJson(r.probe),
    delivery: r.delivery,
    deviations: r.deviations,
  };
}
