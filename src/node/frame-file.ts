/** Frame files for inspect, predict, translate and probe --foreign: their bytes from disk (the core decodes them). */
import { basename } from "node:path";
import { UsageError } from "../core/errors.ts";
import type { ProbeCase } from "../core/probe/cases.ts";
import { foreignCase } from "../core/probe/foreign.ts";
import { frameInput, MAX_FRAME_BYTES } from "../core/sigframe/input.ts";
import { isDirectory, readInput } from "./files.ts";

/** A frame file's bytes; a directory is named for what it likely is (a checkpoint: scan it). */
export function readFrameFile(file: string, max = MAX_FRAME_BYTES): { name: string; bytes: Uint8Array } {
  try {
    return readInput(file, max);
  } catch (e) {
    if (file !== "-" && isDirectory(file))
      throw new UsageError(
        "is a directory, not a frame file (a CRIU checkpoint?): 'sigframe scan DIR' finds its frames and 'sigframe scan DIR --save-frames OUT' writes each as a file",
        { input: file },
      );
    throw e;
  }
}

/** `probe --foreign FRAME...` (and abi-test's) as probe cases, read and refused before anything runs. */
export function foreignCases(files: readonly string[] | undefined): ProbeCase[] {
  return (files ?? []).map((f, i) => {
    const input = frameInput(readFrameFile(f), {}, {});
    return foreignCase(i, basename(input.name), input);
  });
}
