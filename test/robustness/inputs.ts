/** Where the structurally interesting bytes of the sweep's valid inputs are. */

// ELF cores and CRIU images: the campaign's own maps of where their structure is.
export { criuSpots, elfSpots } from "../../fuzz/mutate.ts";

/** A kernel-style frame: the frame header, the fpstate pointer, sw_bytes, the XSAVE header, magic2. */
export function frameSpots(fpstateOffset: number, xstateSize: number, size: number): number[] {
  const fp = fpstateOffset;
  const out = [0, 8, 16, 24, 32, 40, 48, 56, 64, 160, 216, 224, 232, 240, 256, 280, 304, 440];
  for (const f of [0, 24, 28, 416, 464, 468, 472, 480, 484, 512, 520, 528, 576, xstateSize, xstateSize + 4])
    out.push(fp + f);
  out.push(size - 4, size - 1);
  return out;
}
