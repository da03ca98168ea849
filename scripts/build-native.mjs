// Builds the native helper (native/*.c) with the system C compiler. Where it cannot be built
// (another architecture, no compiler), everything else still installs: `host` and `probe` then
// exit 4 with the reason recorded in native/build/UNAVAILABLE.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { arch, platform } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const src = join(root, "native");
const out = join(root, "native", "build");
mkdirSync(out, { recursive: true });
const marker = join(out, "UNAVAILABLE");
rmSync(marker, { force: true });
// A failed build must not leave an older helper behind.
rmSync(join(out, "sigframe-helper"), { force: true });

function unavailable(why) {
  writeFileSync(marker, `${why}\n`);
  console.warn(`sigframe: native helper not built: ${why}`);
  process.exit(0);
}

if (platform() !== "linux" || arch() !== "x64")
  unavailable(`needs Linux on x86-64 (this is ${platform()}/${arch()})`);
const sources = existsSync(src)
  ? readdirSync(src)
      .filter((f) => f.endsWith(".c"))
      .map((f) => join(src, f))
  : [];
if (sources.length === 0) unavailable("no native sources");
const cc = process.env.CC || "cc";
const r = spawnSync(
  cc,
  ["-O1", "-g0", "-Wall", "-Wextra", "-std=gnu11", "-o", join(out, "sigframe-helper"), ...sources],
  { stdio: ["ignore", "inherit", "pipe"], encoding: "utf8" },
);
if (r.stderr) process.stderr.write(r.stderr);
if (r.error) unavailable(`${cc}: ${r.error.message}`);
if (r.status !== 0) {
  // The first compiler error says more than the exit code.
  const first = (r.stderr || "").split("\n").find((l) => / error: /.test(l));
  unavailable(`${cc} failed with exit code ${r.status}${first ? `: ${first.trim()}` : ""}`);
}
