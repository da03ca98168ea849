/**
 * Which layout wrote a signal frame. A frame the kernel wrote describes its writer: sw.xfeatures
 * is the task's user_xfeatures and sw.xstate_size its user_size (arch/x86/kernel/fpu/signal.c
 * save_sw_bytes(), v5.14+: fpstate->user_xfeatures, fpstate->user_size). A layout wrote the frame
 * only if it gives that pair, for a default task or for one that enabled AMX tile data. When it
 * does not, the vendors' standard layouts that give the pair say where the frame's components
 * are; one such vendor settles it.
 */

import { hex } from "../hex.ts";
import type { Profile } from "../profile.ts";
import { profileFromPlacement, vendorPlacement } from "../profiles/placement.ts";
import { MIN_XSTATE_SIZE, VENDOR_OFFSETS, type Vendor, XFEATURE } from "../xsave/components.ts";
import { computeLayout, type XsaveLayout } from "../xsave/layout.ts";
import { type FrameSize, writes } from "./frame-size.ts";

export { type FrameSize, framesOf, frameWords, writes } from "./frame-size.ts";

/** The vendors whose standard layout gives `f.xstateSize` for `f.xfeatures`. */
export function vendorsWriting(f: FrameSize): Vendor[] {
  return (Object.keys(VENDOR_OFFSETS) as Vendor[]).filter((v) => {
    const p = vendorPlacement(v, f.xfeatures);
    return (
      p !== undefined && p.reduce((m, c) => Math.max(m, c.offset + c.size), MIN_XSTATE_SIZE) === f.xstateSize
    );
  });
}

/**
 * A profile of the CPU that wrote `f`, from the one vendor layout that gives it; undefined when
 * none or both do. `xcr0` may add components frames do not carry (AMX tile data of a task that
 * never asked for it), where other evidence shows them.
 */
export function profileWriting(f: FrameSize, name: string, xcr0 = f.xfeatures): Profile | undefined {
  const vs = vendorsWriting(f);
  if (vs.length !== 1) return undefined;
  const vendor = vs[0]!;
  const components = vendorPlacement(vendor, xcr0);
  if (!components) return undefined;
  return profileFromPlacement(name, { xcr0, components, vendor, source: "vendor-table" }, [
    `${vendor}'s standard layout: the only published one whose size for xfeatures ${hex(f.xfeatures)} is the ${f.xstateSize} bytes the kernel wrote in the frame`,
  ]);
}

/** The layout that wrote `f` when it is not `from`, where one vendor layout explains it. */
export function writerLayout(f: FrameSize, name: string): XsaveLayout | undefined {
  const p = profileWriting(f, name);
  if (!p) return undefined;
  const l = computeLayout(p);
  // A frame with tile data was written by a task that enabled AMX.
  const amx = (f.xfeatures >> BigInt(XFEATURE.XTILEDATA)) & 1n ? computeLayout(p, { amx: true }) : l;
  return writes(amx, f) ? amx : writes(l, f) ? l : undefined;
}
