/**
 * `sigframe abi-test`: a kernel image booted under QEMU, the probe run by its own /init, and the
 * sigreturn policy named from the guest's results. One boot per CPU model; the kernel's policy is
 * the one every case of every boot agrees with. Under TCG the emulator's own limits are said, and
 * the one that would blame the kernel for the emulator (reserved MXCSR bits loaded instead of #GP)
 * is given to the model (report.ts, AnalyzeOptions.mxcsrFaults).
 */
import type { Policy } from "../sigreturn/types.ts";
import { PROBE_POLICIES } from "./analyze.ts";
import { type Deviation, departure } from "./conformance.ts";
import { type ProbeJson, type ProbeReport, probeJson } from "./report.ts";

export type Accel = "kvm" | "tcg";

/** What TCG cannot do that a probe would notice (QEMU 7.2, target/i386/tcg). */
export const TCG_LIMITS: readonly string[] = [
  "no AVX-512: only the XMM, YMM and MXCSR regions are loaded and compared",
  "XRSTOR and FXRSTOR load reserved MXCSR bits instead of raising #GP: the model is asked with an all-ones MXCSR_MASK, so the kernel is judged and not the emulator",
  "no compacted form (XSAVEC is not offered): the compacted case is skipped",
];

export interface AbiBoot {
  /** The -cpu model. */
  model: string;
  accel: Accel;
  /** The guest's uname -r. */
  kernel: string;
  /** From starting QEMU to /init answering, and for the cases. */
  bootSeconds: number;
  probeSeconds: number;
  probe: ProbeReport;
  /** Every case where the guest does not do what a classic kernel does, both sides in words. */
  departures: Deviation[];
}

export interface AbiTestReport {
  /** The kernel image as given. */
  image: string;
  qemu: {
    version: string;
    accel: Accel;
    /** How the kernel was started: its decompressed ELF through the PVH entry, or the bzImage. */
    boot: "pvh" | "bzimage";
    accelNote?: string;
    bootNote?: string;
  };
  /** The guest's release (of the first boot). */
  kernel: string;
  /** The one policy every case of every boot matches; unknown when none or several do. */
  policy: Policy | "unknown";
  candidates: Policy[];
  limits: readonly string[];
  boots: AbiBoot[];
}

export function abiBoot(
  model: string,
  accel: Accel,
  probe: ProbeReport,
  seconds: { boot: number; probe: number },
): AbiBoot {
  const departures: Deviation[] = [];
  for (const c of probe.results) {
    const d = departure(c, "classic");
    if (d) departures.push(d);
  }
  return {
    model,
    accel,
    kernel: probe.kernel,
    bootSeconds: seconds.boot,
    probeSeconds: seconds.probe,
    probe,
    departures,
  };
}

export function abiTestReport(image: string, qemu: AbiTestReport["qemu"], boots: AbiBoot[]): AbiTestReport {
  const candidates = PROBE_POLICIES.filter((p) => boots.every((b) => b.probe.verdict.candidates.includes(p)));
  return {
    image,
    qemu,
    kernel: boots[0]?.kernel ?? "unknown",
    policy: candidates.length === 1 ? candidates[0]! : "unknown",
    candidates,
    limits: qemu.accel === "tcg" ? TCG_LIMITS : [],
    boots,
  };
}

/** One boot in `abi-test --json`: the `probe --json` document plus where it ran. */
export interface AbiBootJson extends ProbeJson {
  qemu: { model: string; accel: Accel };
  bootSeconds: number;
  probeSeconds: number;
  departures: Deviation[];
}

export interface AbiTestJson {
  image: string;
  kernel: string;
  policy: Policy | "unknown";
  candidates: Policy[];
  /** Cases of every boot that do not match each policy, as `MODEL/CASE`. */
  policyMismatches: Record<Policy, string[]>;
  qemu: AbiTestReport["qemu"];
  limits: readonly string[];
  boots: AbiBootJson[];
}

export function abiTestJson(r: AbiTestReport): AbiTestJson {
  return {
    image: r.image,
    kernel: r.kernel,
    policy: r.policy,
    candidates: r.candidates,
    policyMismatches: Object.fromEntries(
      PROBE_POLICIES.map((p) => [
        p,
        r.boots.flatMap((b) => b.probe.verdict.byPolicy[p].map((id) => `${b.model}/${id}`)),
      ]),
    ) as Record<Policy, string[]>,
    qemu: r.qemu,
    limits: r.limits,
    boots: r.boots.map((b) => ({
      ...probeJson(b.probe),
      qemu: { model: b.model, accel: b.accel },
      kernel: b.kernel,
      bootSeconds: b.bootSeconds,
      probeSeconds: b.probeSeconds,
      departures: b.departures,
    })),
  };
}
