/**
 * The worker runs as one esbuild bundle (the fuzzer, the CLI and every command, dynamic imports
 * inlined): no TypeScript loader and no module resolution per execution, as the shipped CLI
 * bundle runs. Built into node_modules/.cache when a campaign starts (about a second).
 */
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";
import { REPO_ROOT } from "./families.ts";

export async function buildWorkerBundle(): Promise<string> {
  const dir = join(REPO_ROOT, "node_modules", ".cache", "sigframe-fuzz");
  mkdirSync(dir, { recursive: true });
  sweepStale(dir, /^worker-(\d+)\.mjs$/);
  const outfile = join(dir, `worker-${process.pid}.mjs`);
  process.once("exit", () => rmSync(outfile, { force: true }));
  await build({
    absWorkingDir: REPO_ROOT,
    entryPoints: [join(REPO_ROOT, "fuzz", "worker.ts")],
    outfile,
    bundle: true,
    splitting: false,
    format: "esm",
    platform: "node",
    target: "node20",
    // commander is CommonJS and require()s node built-ins; an ESM bundle has no `require` of its own.
    banner: {
      js: 'import { createRequire as __fuzzCreateRequire } from "node:module";\nconst require = __fuzzCreateRequire(import.meta.url);',
    },
    legalComments: "none",
    logLevel: "warning",
  });
  return outfile;
}

/**
 * Removes the entries of `dir` whose name (`pattern`'s first group) gives the pid of a process that
 * is gone: a campaign that was killed could not remove its bundle or scratch folder itself.
 */
export function sweepStale(dir: string, pattern: RegExp): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const n of names) {
    const pid = Number(pattern.exec(n)?.[1]);
    if (!pid || pid === process.pid || alive(pid)) continue;
    rmSync(join(dir, n), { recursive: true, force: true });
    removed.push(n);
  }
  return removed;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
