/**
 * A whole CRIU checkpoint (a dump directory): the process tree, and per process its threads'
 * core entries, its mm, its memory and the dumping CPU. File access is the caller's: the node side
 * reads a directory, tests may serve files from memory.
 */
import { InvalidDataError } from "../errors.ts";
import type { Profile } from "../profile.ts";
import type { ByteSource } from "../source.ts";
import { profileFromCpuinfoImage } from "./cpuinfo-profile.ts";
import { decodeCore, decodeMessage, decodeMm, decodePagemap, decodePstree } from "./decode.ts";
import type { core_entry } from "./gen/core_pb.ts";
import { file_entrySchema } from "./gen/fdinfo_pb.ts";
import type { mm_entry } from "./gen/mm_pb.ts";
import type { pstree_entry } from "./gen/pstree_pb.ts";
import { parseImage } from "./image.ts";
import { CriuMemory } from "./memory.ts";
import { type CriuThreadState, threadState } from "./thread.ts";

export interface CheckpointFiles {
  /** Whether the checkpoint has a file of this name. */
  has(name: string): boolean;
  /** The whole (small) image file. */
  bytes(name: string): Uint8Array;
  /** Random access to a (large) raw file such as pages-1.img. */
  source(name: string): ByteSource;
}

export interface CriuThread {
  tid: number;
  core: core_entry;
  state: CriuThreadState;
}

export interface CriuProcess {
  pid: number;
  ppid: number;
  pstree: pstree_entry;
  threads: CriuThread[];
  mm: mm_entry;
  memory: CriuMemory;
  /** pages-<id>.img this process's pagemap points at. */
  pagesFile: string;
}

export interface Checkpoint {
  processes: CriuProcess[];
  /** The dumping CPU, where the dump was taken with --cpu-cap (cpuinfo.img). */
  cpu?: Profile;
}

export function fileNames(files: CheckpointFiles): Map<number, string> {
  const out = new Map<number, string>();
  if (!files.has("files.img")) return out;
  const img = parseImage(files.bytes("files.img"), "files.img", "FILES");
  img.entries.forEach((e, i) => {
    const f = decodeMessage(file_entrySchema, e.payload, e.offset, `entries/${i}`, "files.img");
    if (f.reg) out.set(f.id, f.reg.name);
  });
  return out;
}

/**
 * PID_MAX_LIMIT on 64-bit (include/linux/threads.h): no pid namespace holds more tasks, so no
 * checkpoint has more threads.
 */
export const PID_MAX_LIMIT = 4 * 1024 * 1024;

/**
 * The process tree as Linux can have it: every pid and tid once (a thread id names one task in
 * the namespace CRIU dumped), a process's own pid among its threads, and no more tasks than
 * PID_MAX_LIMIT. Checked before any thread's image is read.
 */
export function checkPstree(tree: readonly pstree_entry[]): void {
  const seen = new Map<number, string>();
  const at = (path: string) => ({ input: "pstree.img", path });
  tree.forEach((p, i) => {
    const tids = p.threads.length ? p.threads : [p.pid];
    if (!tids.includes(p.pid))
      throw new InvalidDataError(
        `process ${p.pid} is not among its own threads (${tids.slice(0, 8).join(", ")}${tids.length > 8 ? ", …" : ""})`,
        at(`entries/${i}/threads`),
      );
    tids.forEach((tid, j) => {
      const where = p.threads.length ? `entries/${i}/threads/${j}` : `entries/${i}/pid`;
      const before = seen.get(tid);
      if (before !== undefined)
        throw new InvalidDataError(
          `thread ${tid} is listed twice (first at ${before}): a tid names one task`,
          at(where),
        );
      if (seen.size >= PID_MAX_LIMIT)
        throw new InvalidDataError(
          `more than ${PID_MAX_LIMIT} threads: more tasks than Linux can have`,
          at(where),
        );
      seen.set(tid, where);
    });
  });
}

/** Reads the checkpoint. Every image a process needs (core, mm, pagemap) must be there. */
export function loadCheckpoint(files: CheckpointFiles): Checkpoint {
  if (!files.has("pstree.img")) {
    throw new InvalidDataError("not a CRIU checkpoint: no pstree.img", { input: "pstree.img" });
  }
  const tree = decodePstree(files.bytes("pstree.img"), "pstree.img");
  checkPstree(tree);
  const names = fileNames(files);
  const processes: CriuProcess[] = tree.map((p) => {
    const threadIds = p.threads.length ? p.threads : [p.pid];
    const threads = threadIds.map((tid) => {
      const name = `core-${tid}.img`;
      const core = decodeCore(files.bytes(name), name);
      return { tid, core, state: threadState(core) };
    });
    const mmName = `mm-${p.pid}.img`;
    const mm = decodeMm(files.bytes(mmName), mmName);
    const pmName = `pagemap-${p.pid}.img`;
    const pm = decodePagemap(files.bytes(pmName), pmName);
    const pagesFile = `pages-${pm.head.pagesId}.img`;
    const pages = files.has(pagesFile) ? files.source(pagesFile) : undefined;
    const memory = new CriuMemory(mm, pm.entries, pages, {
      fileNames: names,
      pagesName: pagesFile,
      pagemapName: pmName,
    });
    return { pid: p.pid, ppid: p.ppid, pstree: p, threads, mm, memory, pagesFile };
  });
  const cp: Checkpoint = { processes };
  if (files.has("cpuinfo.img")) cp.cpu = profileFromCpuinfoImage(files.bytes("cpuinfo.img"), "cpuinfo.img");
  return cp;
}
