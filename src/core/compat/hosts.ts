/**
 * The check of two hosts as `sigframe check` and the explorer set it up: their layouts and names,
 * CRIU's view of each, the sigreturn model, and each host's MXCSR_MASK (measured where the
 * profile records it, else estimated from CPUID).
 */
import { mxcsrMaskOf } from "../mxcsr.ts";
import type { Profile } from "../profile.ts";
import { predict } from "../sigreturn/predict.ts";
import type { XsaveLayout } from "../xsave/layout.ts";
import type { CheckInput, CheckResult } from "./check.ts";
import { criuCpuinfo } from "./criu.ts";

export interface CheckHost {
  profile: Profile;
  layout: XsaveLayout;
  /** The name findings and the report use. */
  name: string;
}

export function hostsCheckInput(from: CheckHost, to: CheckHost): CheckInput {
  return {
    from: from.layout,
    to: to.layout,
    predict,
    names: { from: from.name, to: to.name },
    criu: { from: criuCpuinfo(from.layout, from.profile), to: criuCpuinfo(to.layout, to.profile) },
    fromMxcsrMask: mxcsrMaskOf(from.profile),
    toMxcsrMask: mxcsrMaskOf(to.profile),
  };
}

/** CRIU's answer in words, and how it compares with the verdict, as the report prints them. */
export function criuWords(criu: CheckResult["criu"]): { answer: "accepts" | "refuses"; assessment: string } {
  return {
    answer: criu.wouldAccept ? "accepts" : "refuses",
    assessment:
      criu.assessment === "agrees"
        ? "agrees with this verdict"
        : criu.assessment === "refuses-needlessly"
          ? "refuses although the state restores"
          : "accepts although state is lost",
  };
}
