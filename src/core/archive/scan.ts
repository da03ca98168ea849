/**
 * `scan` and `check --checkpoint` over a checkpoint archive: each container's processes, their
 * memory streamed out of the archive through the windowed scanner (scan/stream.ts), and the source
 * CPU by the record the container has (cpuinfo.img, dump.log, core-*.img).
 *
 * A pages file can be scanned while it streams by only when its pagemap and mm images came
 * before it (Podman, CRI-O and `tar --sort=name` order). When it came first, it is read in a second
 * pass over the archive, which needs an input that can be opened again (a file, not a pipe).
 */
import { type Checkpoint, type CheckpointFiles, fileNames, loadCheckpoint } from "../criu/checkpoint.ts";
import { decodeMm, decodePagemap } from "../criu/decode.ts";
import { pageRuns, vmaRegions } from "../criu/memory.ts";
import type { CpuSource } from "../criu/source-cpu.ts";
import { isSigframeError, TruncatedInputError, UsageError } from "../errors.ts";
import type { ScanOptions } from "../scan/scan.ts";
import { StreamScanner } from "../scan/stream.ts";
import { checkpointTarget, type ProcessScan, type ScanTarget, settleSourceCpu } from "../scan/targets.ts";
import { decodeText } from "../text.ts";
import { type ArchiveContainer, type CheckpointArchive, readCheckpointArchive } from "./checkpoint.ts";
import { type ContainerInfo, containerInfo } from "./container.ts";
import type { ByteStream } from "./streams.ts";

export interface ContainerScan {
  target: ScanTarget;
  scans: ProcessScan[];
  container: ContainerInfo;
  /** Where the source CPU came from. */
  cpuSource?: CpuSource;
  checkpoint: Checkpoint;
}

export interface ArchiveScanResult {
  compression: CheckpointArchive["compression"];
  containers: ContainerScan[];
}

/** The files of one archive container as loadCheckpoint reads them (pages are not here). */
function containerFiles(c: ArchiveContainer): CheckpointFiles {
  return {
    has: (n) => c.images.has(n),
    bytes: (n) => {
      const b = c.images.get(n);
      if (!b)
        throw new TruncatedInputError("the archive has no such image", {
          input: `${c.prefix}checkpoint/${n}`,
        });
      return b;
    },
    source: (n) => {
      throw new UsageError("pages files in an archive are streamed, not opened", { input: n });
    },
  };
}

/** The pid whose pagemap names pages-<id>.img, with its memory map (undefined if not yet seen). */
function pagesOwner(
  c: ArchiveContainer,
  pagesName: string,
  scanOpts: ScanOptions,
): { pid: number; scanner: () => StreamScanner } | undefined {
  const id = Number(/^pages-(\d+)\.img$/.exec(pagesName)?.[1]);
  for (const [name, bytes] of c.images) {
    const m = /^pagemap-(\d+)\.img$/.exec(name);
    if (!m) continue;
    const pm = decodePagemap(bytes, `${c.prefix}checkpoint/${name}`);
    if (pm.head.pagesId !== id) continue;
    const mmName = `mm-${m[1]}.img`;
    const mmBytes = c.images.get(mmName);
    if (!mmBytes) return undefined;
    return {
      pid: Number(m[1]),
      scanner: () => {
        const mm = decodeMm(mmBytes, `${c.prefix}checkpoint/${mmName}`);
        const regions = vmaRegions(mm, fileNames(containerFiles(c)));
        const runs = pageRuns(pm.entries, undefined, { pagemapName: name, pagesName })
          .filter((r) => r.fileOffset >= 0)
          .map((r) => ({ start: r.start, end: r.end, offset: r.fileOffset }));
        return new StreamScanner(regions, runs, { ...scanOpts, regionsKnown: true });
      },
    };
  }
  return undefined;
}

/**
 * Scans every container of a checkpoint archive. `open` gives the archive's bytes from the start
 * (called again for a second pass when needed); `reopenable` says whether that is possible.
 */
export async function scanCheckpointArchive(
  open: () => ByteStream,
  name: string,
  opts: ScanOptions & { reopenable?: boolean } = {},
): Promise<ArchiveScanResult> {
  const { threads: _threads, reopenable: _r, ...scanOpts } = opts;
  const scanners = new Map<string, StreamScanner>();
  const key = (c: ArchiveContainer, pid: number) => `${c.prefix}\0${pid}`;
  const deferred: string[] = [];
  const archive = await readCheckpointArchive(open(), {
    onPages(c, pages) {
      const owner = pagesOwner(c, pages, scanOpts);
      if (!owner) {
        deferred.push(`${c.prefix}${pages}`);
        return undefined;
      }
      const s = owner.scanner();
      scanners.set(key(c, owner.pid), s);
      return s;
    },
  });
  if (archive.containers.length === 0)
    throw new UsageError("not a checkpoint archive: no CRIU images (checkpoint/*.img) in it", {
      input: name,
    });
  if (deferred.length) {
    if (!opts.reopenable)
      throw new UsageError(
        `the archive stores ${deferred[0]} before its pagemap; it must be read twice: give it as a file, not on a pipe`,
        { input: name },
      );
    const byPrefix = new Map(archive.containers.map((c) => [c.prefix, c]));
    await readCheckpointArchive(open(), {
      keepFiles: false,
      onPages(c0, pages) {
        const c = byPrefix.get(c0.prefix);
        if (!c || !deferred.includes(`${c.prefix}${pages}`)) return undefined;
        const owner = pagesOwner(c, pages, scanOpts);
        if (!owner) return undefined;
        const s = owner.scanner();
        scanners.set(key(c, owner.pid), s);
        return s;
      },
    });
  }
  const multi = archive.containers.length > 1;
  const containers: ContainerScan[] = [];
  for (const c of archive.containers) {
    const where = multi ? `${name}:${c.prefix.replace(/\/$/, "")}` : name;
    let cp: Checkpoint;
    try {
      cp = loadCheckpoint(containerFiles(c));
    } catch (e) {
      if (isSigframeError(e) && e.input !== undefined && !e.input.includes("/"))
        e.input = `${name}:${c.prefix}checkpoint/${e.input}`;
      throw e;
    }
    const target = checkpointTarget(cp, where);
    if (archive.compression !== "none") target.compression = archive.compression;
    const scans: ProcessScan[] = target.processes.map((p) => {
      const s = scanners.get(key(c, p.pid!));
      if (!s) {
        // No pages file in the archive for this process: nothing of its memory is present.
        return { pid: p.pid!, process: p, result: scanEmpty(p, scanOpts) };
      }
      const { result, memory } = s.end({ threads: p.threads });
      p.memory = memory;
      return { pid: p.pid!, process: p, result };
    });
    const dumpLog = c.meta.get("dump.log");
    if (dumpLog) target.dumpLog = decodeText(dumpLog);
    target.container = containerInfo(c.meta.get("config.dump"), c.meta.get("spec.dump"));
    settleSourceCpu(target, scans);
    const out: ContainerScan = { target, scans, container: target.container, checkpoint: cp };
    if (target.cpuSource) out.cpuSource = target.cpuSource;
    containers.push(out);
  }
  return { compression: archive.compression, containers };
}

function scanEmpty(p: ScanTarget["processes"][number], scanOpts: ScanOptions): ProcessScan["result"] {
  const s = new StreamScanner(p.memory.regions(), [], { ...scanOpts, regionsKnown: true });
  const r = s.end({ threads: p.threads });
  r.result.missing = [...(p.memory.missing?.() ?? [])];
  return r.result;
}
