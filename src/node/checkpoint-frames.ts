/**
 * `check --checkpoint PATH` / `check --core PATH`: the frames of a checkpoint or core, as cases
 * for the check (scan/cases.ts). Its own module, so that `scan` starts without the frame model.
 */
import { type CheckpointFrames, scannedFrames } from "../core/scan/cases.ts";
import type { XsaveLayout } from "../core/xsave/layout.ts";
import { scanInput } from "./scan-target.ts";

/** The image's frames for the check. */
export async function loadCheckpointFrames(
  which: "checkpoint" | "core",
  path: string,
  from: XsaveLayout | undefined,
  to: XsaveLayout,
): Promise<CheckpointFrames> {
  const res = await scanInput(path, { expect: which === "checkpoint" ? "criu" : "elf-core" });
  try {
    return scannedFrames(res.parts, path, from, to);
  } finally {
    res.close();
  }
}
