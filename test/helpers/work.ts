/**
 * Work a piece of code does, measured as work rather than time (a loaded machine changes time,
 * not work): bytes it reads from files, and how far the process's peak memory grows meanwhile.
 * Reads are counted at node:fs (every input the sources read goes through readSync or
 * readFileSync); syncBuiltinESMExports() makes the sources' `import { readSync } from "node:fs"`
 * see the counting versions while they are installed.
 */
import fs from "node:fs";
import { syncBuiltinESMExports } from "node:module";

export interface Work<T> {
  result: T;
  /** Bytes returned by readSync/readFileSync while `fn` ran. */
  bytesRead: number;
  /** How far the process's peak resident memory rose while `fn` ran, in bytes. */
  peakGrowth: number;
}

const peakRss = () => process.resourceUsage().maxRSS * 1024;

/** Runs `fn` and reports the work it did. Not re-entrant (tests in a file run one at a time). */
export async function measureWork<T>(fn: () => T | Promise<T>): Promise<Work<T>> {
  const readSync = fs.readSync;
  const readFileSync = fs.readFileSync;
  let bytesRead = 0;
  fs.readSync = ((...args: Parameters<typeof readSync>) => {
    const n = readSync(...args);
    bytesRead += n;
    return n;
  }) as typeof readSync;
  fs.readFileSync = ((...args: Parameters<typeof readFileSync>) => {
    const r = readFileSync(...args);
    bytesRead += typeof r === "string" ? Buffer.byteLength(r) : r.length;
    return r;
  }) as typeof readFileSync;
  syncBuiltinESMExports();
  const before = peakRss();
  try {
    const result = await fn();
    return { result, bytesRead, peakGrowth: peakRss() - before };
  } finally {
    fs.readSync = readSync;
    fs.readFileSync = readFileSync;
    syncBuiltinESMExports();
  }
}

/** Bytes of a file, or of every file in a folder (symlinks followed). */
export function sizeOnDisk(path: string): number {
  const st = fs.statSync(path);
  if (!st.isDirectory()) return st.size;
  let n = 0;
  for (const f of fs.readdirSync(path)) n += sizeOnDisk(`${path}/${f}`);
  return n;
}
