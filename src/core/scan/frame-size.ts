/**
 * What a kernel-written frame states about its writer: sw.xfeatures is the task's user_xfeatures
 * and sw.xstate_size its user_size (arch/x86/kernel/fpu/signal.c save_sw_bytes(), v5.14+:
 * fpstate->user_xfeatures, fpstate->user_size). A layout wrote a frame only if it gives that pair,
 * for a default task or one that enabled AMX tile data. (Which vendor layout wrote a frame the
 * source's did not: frame-fit.ts.)
 */
import { hex } from "../hex.ts";
import { standardSize, type XsaveLayout } from "../xsave/layout.ts";

/** The two facts a kernel-written frame states about its writer. */
export interface FrameSize {
  xfeatures: bigint;
  xstateSize: number;
}

/** The pair a layout's kernel writes: for a default task, and for one with AMX tile data. */
export function framesOf(l: XsaveLayout): FrameSize[] {
  const out: FrameSize[] = [{ xfeatures: l.userFeatures, xstateSize: l.userSize }];
  if (l.xcr0 !== l.userFeatures) out.push({ xfeatures: l.xcr0, xstateSize: standardSize(l, l.xcr0) });
  return out;
}

/** Did a kernel on layout `l` write this frame? */
export function writes(l: XsaveLayout, f: FrameSize): boolean {
  return framesOf(l).some((w) => w.xfeatures === f.xfeatures && w.xstateSize === f.xstateSize);
}

/** `xstate_size 2816, xfeatures 0x202e7` (or both pairs of a layout that has AMX). */
export function frameWords(f: FrameSize | FrameSize[]): string {
  const list = Array.isArray(f) ? f : [f];
  return (
    list.map((x) => `xstate_size ${x.xstateSize}, xfeatures ${hex(x.xfeatures)}`).join(" (or, with AMX, ") +
    (list.length > 1 ? ")" : "")
  );
}
