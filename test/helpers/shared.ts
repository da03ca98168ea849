/**
 * The team's shared data lives beside the checkout in ../shared (CPUID corpus, real checkpoints
 * and cores). Tests read it in place and skip, visibly, where it is absent.
 */
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const SHARED = resolve(REPO_ROOT, "..", "shared");
export const CORPUS = join(SHARED, "cpuid-corpus");
export const FIXTURES = join(SHARED, "fixtures");

/** `{ skip: reason }` for node:test when the folder is absent, else `{}`. */
export function needs(dir: string, what: string): { skip?: string } {
  return existsSync(dir) ? {} : { skip: `${what} not found at ${dir} (a checkout without ../shared)` };
}
