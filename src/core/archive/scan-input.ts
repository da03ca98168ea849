/**
 * A checkpoint archive or an ELF core (plain or compressed) scanned from a stream: what `scan`,
 * `check --checkpoint/--core` (node/scan-target.ts) and the web explorer do with such an input.
 * The archive and core readers are loaded only for the kind given.
 */
import type { ScanOptions } from "../scan/scan.ts";
import type { ProcessScan, ScanTarget } from "../scan/targets.ts";
import type { Compression } from "./compression.ts";
import type { StreamInputKind } from "./input.ts";
import type { ByteStream } from "./streams.ts";

export interface StreamedScan {
  /** One part per container of an archive; one for a core. */
  parts: { target: ScanTarget; scans: ProcessScan[] }[];
  /** For an archive: how it was stored (the decompressor's, where the caller decompressed it). */
  compression: Compression | "none";
}

/**
 * Scans `open()`'s bytes as `kind` (input.ts sniffStream). `compression`: how the file was stored
 * when the caller decompressed it before the core saw it (the CLI's native decompressors).
 */
export async function scanStreamed(
  kind: Extract<StreamInputKind, "checkpoint-archive" | "core">,
  open: () => ByteStream,
  name: string,
  opts: ScanOptions & { reopenable?: boolean; compression?: Compression | "none" } = {},
): Promise<StreamedScan> {
  const { compression: stored = "none", ...scanOpts } = opts;
  if (kind === "checkpoint-archive") {
    const { scanCheckpointArchive } = await import("./scan.ts");
    const res = await scanCheckpointArchive(open, name, scanOpts);
    const compression = stored !== "none" ? stored : res.compression;
    for (const c of res.containers) if (compression !== "none") c.target.compression = compression;
    return { parts: res.containers.map((c) => ({ target: c.target, scans: c.scans })), compression };
  }
  const { scanStreamedCore } = await import("./core-scan.ts");
  const res = await scanStreamedCore(open, name, scanOpts);
  if (stored !== "none") res.target.compression = stored;
  return { parts: [{ target: res.target, scans: res.scans }], compression: stored };
}

/** High-confidence frames found in all the parts (the frames a check takes). */
export function liveFrameCount(parts: StreamedScan["parts"]): number {
  return parts.reduce(
    (n, p) =>
      n + p.scans.reduce((m, s) => m + s.result.frames.filter((x) => x.confidence === "high").length, 0),
    0,
  );
}
