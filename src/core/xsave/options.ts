/**
 * The layout options for one profile, as `layout`, `diff`, `check` and the explorer resolve them:
 * a profile that records its kernel release but not XCR0 is computed for that kernel.
 */
import { parseKernelVersion } from "../kernel.ts";
import type { Profile } from "../profile.ts";
import { computeLayout, type LayoutOptions, type XsaveLayout } from "./layout.ts";

export function layoutOptionsFor(profile: Profile, given: LayoutOptions = {}): LayoutOptions {
  if (given.kernel || !profile.kernel || profile.xcr0 !== undefined) return given;
  try {
    return { ...given, kernel: parseKernelVersion(profile.kernel) };
  } catch {
    // An unparsable `uname -r` leaves the newest rules.
    return given;
  }
}

/** The profile's layout under `given`, with its recorded kernel where that applies. */
export function profileLayout(profile: Profile, given: LayoutOptions = {}): XsaveLayout {
  return computeLayout(profile, layoutOptionsFor(profile, given));
}
