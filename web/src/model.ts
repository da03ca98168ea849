/**
 * What the explorer computes, without the DOM: profiles from bytes, layouts, diffs and checks,
 * with the core's rules for the CLI's `layout`, `diff` and `check`, so both say the same.
 */

import { type CheckReport, type CheckRequest, checkHosts } from "../../src/core/compat/check-hosts.ts";
import { UsageError } from "../../src/core/errors.ts";
import { checkInputSize } from "../../src/core/input.ts";
import type { KernelVersion } from "../../src/core/kernel.ts";
import { fieldValue, kernelOption } from "../../src/core/options.ts";
import type { Profile } from "../../src/core/profile.ts";
import { BUILTIN_PROFILES } from "../../src/core/profiles/builtins.ts";
import { MAX_PROFILE_BYTES, profileFromBytes } from "../../src/core/profiles/detect.ts";
import { choosePolicies, type PolicyChoice } from "../../src/core/sigreturn/index.ts";
import { diffLayouts, type LayoutDiff } from "../../src/core/xsave/diff.ts";
import type { LayoutOptions, XsaveLayout } from "../../src/core/xsave/layout.ts";
import { profileLayout } from "../../src/core/xsave/options.ts";
import { diffSummary } from "../../src/core/xsave/report.ts";

export { type ComponentRow, componentRows, layoutHeader } from "../../src/core/xsave/report.ts";

/** A profile from a file's bytes, format detected as the CLI does (`cpuid -r`, JSON, cpuinfo.img, core). */
export function profileFromFile(bytes: Uint8Array, name: string): Profile {
  checkInputSize(bytes.length, MAX_PROFILE_BYTES, name);
  return profileFromBytes(bytes, name);
}

export function builtinList(): { name: string; title: string }[] {
  return BUILTIN_PROFILES.map((b) => ({ name: b.name, title: b.title }));
}

/** `--kernel` as typed: empty means none; a bad version fails as the CLI's option does. */
export function kernelFromText(text: string): KernelVersion | undefined {
  return kernelOption(fieldValue(text));
}

type LayoutChoice = Pick<LayoutOptions, "kernel" | "amx">;

/** The CLI's layout for one profile: a profile that knows its kernel but not XCR0 uses that kernel. */
export function layoutFor(p: Profile, choice: LayoutChoice = {}): XsaveLayout {
  const o: LayoutOptions = {};
  if (choice.kernel) o.kernel = choice.kernel;
  if (choice.amx) o.amx = true;
  return profileLayout(p, o);
}

interface DiffView {
  diff: LayoutDiff;
  a: XsaveLayout;
  b: XsaveLayout;
  /** The closing line of `sigframe diff`. */
  summary: string;
}

export function diffFor(pa: Profile, pb: Profile, choice: LayoutChoice = {}): DiffView {
  const a = layoutFor(pa, choice);
  const b = layoutFor(pb, choice);
  const d = diffLayouts(a, b);
  return { diff: d, a, b, summary: diffSummary(d) };
}

interface CheckChoice {
  kernel?: KernelVersion;
  /** "" or undefined: all three. */
  policy?: string;
}

/** `--policy P` or `--kernel K` to the policies to judge by, with the CLI's messages. */
export function policiesFor(choice: CheckChoice): PolicyChoice {
  return choosePolicies(choice.policy || undefined, choice.kernel);
}

/** `sigframe check --from A --to B [--kernel K | --policy P]`, as the CLI runs it. */
export function checkFor(pa: Profile, pb: Profile, choice: CheckChoice = {}): Promise<CheckReport> {
  const request: CheckRequest = { from: pa, to: pb };
  if (choice.kernel) request.kernel = choice.kernel.text;
  if (choice.policy) request.policy = choice.policy;
  return checkHosts(request, {
    loadProfile: (arg) => {
      throw new UsageError("the explorer checks profiles it has loaded", { input: arg });
    },
  });
}
