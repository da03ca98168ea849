/**
 * The worker runs as one esbuild bundle (the fuzzer, the CLI and every command, dynamic imports
 * inlined): no TypeScript loader and no module resolution per execution, as the shipped CLI
 * bundle runs. Built into node_modules/.cache when a campaign starts (about a second).
 */
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";
import { REPO_ROOT } from "./families.ts";

export async function buildWorkerBundle(): Promise<string> {
  const dir = join(REPO_ROOT, "node_modules", ".cache", "sigframe-fuzz");
  mkdirSync(dir, { recursive: true });
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
