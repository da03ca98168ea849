/**
 * Shared by the web tests: the app built into a fresh folder (so the tests see the current
 * sources), the CLI run in-process, and whether Debian's chromium is there to drive.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sigframe } from "../helpers/cli.ts";
import { REPO_ROOT } from "../helpers/shared.ts";

export const CHROMIUM = "/usr/bin/chromium";

/** `{ skip: reason }` when the browser is missing (CI installs Debian's chromium). */
export function needsChromium(): { skip?: string } {
  return existsSync(CHROMIUM)
    ? {}
    : { skip: `${CHROMIUM} not found: install Debian's chromium package to run the browser tests` };
}

/** The flags a headless Debian chromium needs here: no sandbox as root, and no background traffic. */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

let built: string | undefined;

/** Builds web/ with vite into a new temporary folder (once per test process) and returns it. */
export function buildApp(): string {
  if (built) return built;
  const out = mkdtempSync(join(tmpdir(), "sigframe-web-"));
  execFileSync(
    process.execPath,
    [
      join(REPO_ROOT, "node_modules", "vite", "bin", "vite.js"),
      "build",
      "web",
      "--outDir",
      out,
      "--emptyOutDir",
      "--logLevel",
      "warn",
    ],
    { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "inherit"] },
  );
  built = out;
  return out;
}

/** Runs the CLI in this process. */
export const sf = sigframe;

/** Runs the CLI with `dir` as the working directory, so file names appear as the page sees them. */
export async function sfIn(dir: string, argv: string[]) {
  const cwd = process.cwd();
  process.chdir(dir);
  try {
    return await sf(argv);
  } finally {
    process.chdir(cwd);
  }
}
