/**
 * The words `layout` and `diff` print about a layout, shared by the terminal and the explorer:
 * the header lines, one row per component, and the closing line of a diff.
 */
import { bitsOf, hex } from "../hex.ts";
import { describeProfile, type Profile } from "../profile.ts";
import { componentInfo } from "./components.ts";
import type { LayoutDiff } from "./diff.ts";
import type { XsaveLayout } from "./layout.ts";

export interface LayoutHeader {
  /** `NAME: brand (vendor family … model … stepping …)`. */
  title: string;
  /** XCR0 and what it was computed for. */
  xcr0: string;
  /** The sizes line: XCR0, user_size, max, CPUID(0xD,0).ECX. */
  sizes: string;
  /** What a signal frame carries. */
  frame: string;
}

export function layoutHeader(p: Profile, l: XsaveLayout): LayoutHeader {
  const rules = l.kernel ? `Linux ${l.kernel}` : "current Linux rules";
  let kernel: string;
  if (l.xcr0Source === "forced") {
    const asked = l.xcr0Requested ?? l.xcr0;
    const dropped = asked & ~l.xcr0;
    kernel = `--xcr0 ${hex(asked)}${l.kernel ? ` under Linux ${l.kernel}` : ""}${dropped ? `; dropped ${componentNames(dropped)}` : ""}`;
  } else kernel = l.xcr0Source === "measured" ? "measured XCR0" : rules;
  return {
    title: `${p.name}: ${describeProfile(p)}`,
    xcr0: `${hex(l.xcr0)} (${kernel})`,
    sizes: `XCR0 ${hex(l.xcr0)} (${kernel})   user_size ${l.userSize}   max ${l.maxUserSize}   CPUID(0xD,0).ECX ${l.maxSize}`,
    frame: l.xsave
      ? `signal frame: xstate_size ${l.frame.xstateSize}, extended_size ${l.frame.extendedSize}, magic2 at fpstate+${l.frame.xstateSize}`
      : "signal frame: FXSAVE only (512 bytes, no magic2)",
  };
}

export type ComponentState = "in frames" | "supervisor" | "not enabled";

export interface ComponentRow {
  bit: number;
  name: string;
  description: string;
  size: number;
  /** "-" for supervisor components (they have no standard offset). */
  offset: string;
  compacted: string;
  flags: string;
  state: ComponentState;
  /** Why a user component the CPU has is not in frames. */
  reason?: string;
}

/** One row per component of the layout table. */
export function componentRows(l: XsaveLayout): ComponentRow[] {
  return l.components.map((x) => {
    const flags = [
      x.supervisor ? "sup" : "",
      x.align64 ? "a64" : "",
      x.xfd ? "xfd" : "",
      x.dynamic ? "dyn" : "",
    ]
      .filter(Boolean)
      .join(",");
    const row: ComponentRow = {
      bit: x.bit,
      name: x.name,
      description: x.description,
      size: x.size,
      offset: x.supervisor ? "-" : String(x.offset),
      compacted: x.compactedOffset === null ? "-" : String(x.compactedOffset),
      flags: flags || "-",
      state: x.enabled ? "in frames" : x.supervisor ? "supervisor" : "not enabled",
    };
    if (x.reason && !x.enabled && !x.supervisor) row.reason = x.reason;
    return row;
  });
}

/** The closing line of a diff. */
export function diffSummary(d: LayoutDiff): string {
  return d.identical
    ? "identical: a frame written on one is laid out exactly as the other expects"
    : `different: user_size ${d.a.userSize} vs ${d.b.userSize}; ${d.components.filter((x) => x.status !== "same").length} component(s) differ`;
}

/** The components of a mask by name, ascending by bit: `x87, SSE, YMM`. */
export function componentNames(mask: bigint, separator = ", "): string {
  return bitsOf(mask)
    .map((b) => componentInfo(b).name)
    .join(separator);
}
