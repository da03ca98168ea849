/** Locating the CRIU fixtures of ../shared (read in place). */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { FIXTURES } from "../../helpers/shared.ts";

export const CRIU_DIR = join(FIXTURES, "criu");
export const CRIT_DIR = join(FIXTURES, "crit");
export const TRUTH_DIR = join(FIXTURES, "truth");

export const SCENARIOS = existsSync(CRIU_DIR)
  ? readdirSync(CRIU_DIR)
      .filter((s) => /^S\d+$/.test(s))
      .sort()
  : [];

/** Image files of a scenario (not the raw pages file, not the logs). */
export function imageFiles(s: string): string[] {
  return readdirSync(join(CRIU_DIR, s))
    .filter((f) => (f.endsWith(".img") && !f.startsWith("pages-")) || f === "stats-dump")
    .sort();
}

/** The crit decoding file name used in crit/<S>/ for an image (mm-<pid>.img is mm.json, …). */
export function critName(image: string): string {
  return `${image.replace(/\.img$/, "").replace(/^(mm|pagemap)-\d+$/, "$1")}.json`;
}

// biome-ignore lint/suspicious/noExplicitAny: truth JSON is schemaless here
export function truth(s: string): any {
  return JSON.parse(readFileSync(join(TRUTH_DIR, `${s}.json`), "utf8"));
}

/** FNV-1a 64 of a byte string. */
export function fnv1a64(b: Uint8Array): bigint {
  let h = 0xcbf29ce484222325n;
  for (const x of b) h = BigInt.asUintN(64, (h ^ BigInt(x)) * 0x100000001b3n);
  return h;
}

/** JSON.parse that keeps integers of 16+ digits exact (as strings) so big u64 values compare. */
export function parseExact(text: string): unknown {
  return JSON.parse(text.replace(/([:[,]\s*)(-?\d{16,})(?=\s*[,\]}\n])/g, '$1"$2"'));
}
