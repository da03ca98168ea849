/** The corpus hosts the migration tests use, picked by name from ../shared/cpuid-corpus. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Profile } from "../../../src/core/profile.ts";
import { profileFromBytes } from "../../../src/core/profiles/detect.ts";
import { computeLayout, type XsaveLayout } from "../../../src/core/xsave/layout.ts";
import { CORPUS } from "../../helpers/shared.ts";

export const HOSTS = {
  thisMachine: "local-this-machine.json", // AMD Zen 5 VM, XCR0 0xe7
  haswell: "intel-core-i7-4770-cpu-3-40ghz.json",
  skylakeSp: "intel-xeon-platinum-8160-cpu-2-10ghz.json",
  icelakeSp: "intel-xeon-platinum-8351n-cpu-2-40ghz.json",
  sapphireRapids: "intel-xeon-w9-3475x.json",
  raptorLake: "intel-13th-gen-intel-core-i9-13900k.json",
  zen2: "amd-epyc-7742-64-core-processor.json", // Rome
  zen3: "amd-epyc-7713-64-core-processor.json", // Milan
  genoa: "amd-epyc-9654-96-core-processor.json",
  turin: "amd-epyc-9655-96-core-processor.json",
} as const;

export type HostKey = keyof typeof HOSTS;

export function corpusPath(k: HostKey): string {
  return join(CORPUS, HOSTS[k]);
}

export function profile(k: HostKey): Profile {
  return profileFromBytes(readFileSync(corpusPath(k)), HOSTS[k]);
}

export function layout(k: HostKey): XsaveLayout {
  return computeLayout(profile(k));
}
