/**
 * The CLI as users run it: `bin/sigframe.js`, which loads the esbuild bundle in dist/bundle/. Tests
 * that start a `sigframe` process run this, so the bundle is what gets tested. The bundle is
 * rebuilt first when any of its sources is newer than it (a narrow test run after an edit), so a
 * test never runs a stale bundle; `npm install` builds it, so a clean run rebuilds nothing.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "./shared.ts";

export const CLI_BIN = join(REPO_ROOT, "bin", "sigframe.js");
export const BUNDLE_DIR = join(REPO_ROOT, "dist", "bundle");
const META = join(BUNDLE_DIR, "meta.json");

/** esbuild's metafile of the CLI bundle (which sources are in which output, and its imports). */
export interface BundleMeta {
  inputs: Record<string, { bytes: number; imports: { path: string; kind: string; external?: boolean }[] }>;
  outputs: Record<
    string,
    {
      bytes: number;
      entryPoint?: string;
      imports: { path: string; kind: string; external?: boolean }[];
      inputs: Record<string, { bytesInOutput: number }>;
    }
  >;
}

function stale(): string | undefined {
  if (!existsSync(META)) return "not built";
  const built = statSync(META).mtimeMs;
  const meta = JSON.parse(readFileSync(META, "utf8")) as BundleMeta;
  for (const input of Object.keys(meta.inputs)) {
    const p = join(REPO_ROOT, input);
    if (!existsSync(p)) return `${input} is gone`;
    if (statSync(p).mtimeMs > built) return `${input} changed`;
  }
  for (const out of Object.keys(meta.outputs))
    if (!existsSync(join(REPO_ROOT, out))) return `${out} is missing`;
  return undefined;
}

let checked = false;

/** bin/sigframe.js, with the bundle current; builds it when it is missing or older than a source. */
export function bundledCli(): string {
  if (checked) return CLI_BIN;
  if (stale() !== undefined) {
    const r = spawnSync(process.execPath, [join(REPO_ROOT, "scripts", "build-cli.mjs")], {
      cwd: REPO_ROOT,
      encoding: "utf8",
    });
    if (r.status !== 0) throw new Error(`building the CLI bundle failed:\n${r.stderr}`);
  }
  checked = true;
  return CLI_BIN;
}

/** The bundle's metafile (after bundledCli() made it current). */
export function bundleMeta(): BundleMeta {
  bundledCli();
  return JSON.parse(readFileSync(META, "utf8")) as BundleMeta;
}
