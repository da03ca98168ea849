/** `scan --save-frames DIR`: each live frame written as a file inspect, predict and translate take. */
import { mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { UsageError } from "../core/errors.ts";
import { toJson } from "../core/hex.ts";
import { savedFrames } from "../core/scan/frame-state.ts";
import type { SavedFramesJson, ScanReport } from "../core/scan/report.ts";
import { describeFsError, writeOutputAtomic } from "./files.ts";

/** `--save-frames DIR`: a directory, or a path where one can be made; checked before the scan. */
export function checkOutputDir(dir: string): void {
  try {
    if (!statSync(dir).isDirectory()) throw new UsageError("exists and is not a directory", { input: dir });
  } catch (e) {
    if (e instanceof UsageError) throw e;
  }
}

/** Writes the live frames, index.json and source-cpu.json; each file whole or not at all. */
export async function saveFrames(dir: string, parts: ScanReport["parts"]): Promise<SavedFramesJson> {
  const frames = savedFrames(parts);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new UsageError(describeFsError(e), { input: dir });
  }
  const drop = () => {};
  for (const f of frames) writeOutputAtomic(join(dir, f.file), f.bytes, drop);
  const out: SavedFramesJson = { dir, frames: frames.map((f) => f.entry) };
  const profile = parts.find((p) => p.target.profile)?.target.profile;
  if (profile) {
    const { profileToJson } = await import("../core/profiles/json.ts");
    writeOutputAtomic(join(dir, "source-cpu.json"), `${toJson(profileToJson(profile))}\n`, drop);
    out.sourceCpu = join(dir, "source-cpu.json");
  }
  writeOutputAtomic(join(dir, "index.json"), `${toJson(out)}\n`, drop);
  return out;
}
