/**
 * `baseline`: the largest user feature mask whose XSAVE state is portable across every host of a
 * fleet: each component present on every host, at the same standard-format offset and with the
 * same size. A checkpoint whose state stays within it restores on any of them, frames included,
 * when every host's kernel runs with XCR0 limited to it.
 */
import { bit, bitsOf, hasBit } from "../hex.ts";
import { standardPlacement } from "../sigframe/fpstate.ts";
import { componentInfo, MASK_FPSSE, MIN_XSTATE_SIZE, XFEATURE } from "../xsave/components.ts";
import type { XsaveLayout } from "../xsave/layout.ts";

export interface BaselineHost {
  name: string;
  layout: XsaveLayout;
}

export interface Exclusion {
  bit: number;
  name: string;
  /** Why it is out: hosts without it, or the offsets/sizes it has where they differ. */
  missingOn: string[];
  /** Where present: `offset/size` → hosts, when more than one placement exists. */
  placements: { offset: number; size: number; hosts: string[] }[];
  reason: string;
}

export interface BaselineResult {
  /** The portable user feature mask (always has x87 and SSE). */
  mask: bigint;
  components: { bit: number; name: string; offset: number; size: number }[];
  /** Standard-format size of the mask: the xstate_size of frames that carry only it. */
  frameSize: number;
  excluded: Exclusion[];
  hosts: { name: string; userFeatures: bigint; userSize: number; beyond: bigint; fxOnly: boolean }[];
  /** Some host does not use XSAVE at all: only the legacy FXSAVE region is portable. */
  fxsaveOnly: boolean;
}

/** The portable mask of `hosts` (at least one). AMX tile data counts like any component. */
export function baseline(hosts: BaselineHost[]): BaselineResult {
  const all = hosts.reduce((m, h) => m | h.layout.userFeatures | h.layout.xcr0, 0n);
  const fxsaveOnly = hosts.some((h) => !h.layout.xsave);
  let mask = MASK_FPSSE;
  const excluded: Exclusion[] = [];
  const components: BaselineResult["components"] = [];
  for (const b of bitsOf(all)) {
    if (b < 2) continue;
    // Tile data is only in a task's features after it asks for it: judge it by XCR0.
    const has = (l: XsaveLayout) =>
      l.xsave && (b === XFEATURE.XTILEDATA ? hasBit(l.xcr0, b) : hasBit(l.userFeatures, b));
    const missingOn = hosts.filter((h) => !has(h.layout)).map((h) => h.name);
    const byPlace = new Map<string, { offset: number; size: number; hosts: string[] }>();
    for (const h of hosts) {
      if (!has(h.layout)) continue;
      const p = standardPlacement(h.layout, b);
      if (!p) continue;
      const k = `${p.offset}/${p.size}`;
      const e = byPlace.get(k);
      if (e) e.hosts.push(h.name);
      else byPlace.set(k, { ...p, hosts: [h.name] });
    }
    const placements = [...byPlace.values()];
    const name = componentInfo(b).name;
    if (missingOn.length === 0 && placements.length === 1) {
      mask |= bit(b);
      components.push({ bit: b, name, offset: placements[0]!.offset, size: placements[0]!.size });
      continue;
    }
    const parts: string[] = [];
    if (missingOn.length) parts.push(`absent on ${missingOn.join(", ")}`);
    if (placements.length > 1)
      parts.push(
        placements.map((p) => `at ${p.offset} (${p.size} bytes) on ${p.hosts.join(", ")}`).join("; "),
      );
    excluded.push({ bit: b, name, missingOn, placements, reason: parts.join("; ") });
  }
  if (fxsaveOnly) mask = MASK_FPSSE;
  let frameSize = MIN_XSTATE_SIZE;
  for (const c of components) if (hasBit(mask, c.bit)) frameSize = Math.max(frameSize, c.offset + c.size);
  if (fxsaveOnly) frameSize = 512;
  return {
    mask,
    components: components.filter((c) => hasBit(mask, c.bit)),
    frameSize,
    excluded,
    hosts: hosts.map((h) => ({
      name: h.name,
      userFeatures: h.layout.userFeatures,
      userSize: h.layout.userSize,
      beyond: h.layout.userFeatures & ~mask,
      fxOnly: !h.layout.xsave,
    })),
    fxsaveOnly,
  };
}
