// Builds the native helper (native/*.c) with the system C compiler, twice: sigframe-helper
// (dynamically linked) and sigframe-helper-static (-static, for `probe --under` sandboxes whose root
// file system lacks this libc, and the /init of `abi-test`'s initramfs; Debian's libc6-dev has
// libc.a). Where a variant cannot be built (another architecture, no compiler, no static libc),
// everything else still installs: the commands that need it exit 4 with the reason recorded in
// native/build/UNAVAILABLE (UNAVAILABLE-static for the static variant).
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
const staticMarker = join(out, "UNAVAILABLE-static");
// A failed build must not leave an older helper behind.
for (const f of [marker, staticMarker, "sigframe-helper", "sigframe-helper-static"])
  rmSync(join(out, f), { force: true });

function unavailable(why) {
  writeFileSync(marker, `${why}\n`);
  writeFileSync(staticMarker, `${why}\n`);
  console.warn(`sigframe: native helper not built: ${why}`);
  process.exit(0);
}

/** Runs the compiler; undefined on success, else why it failed (its first error line). */
function compile(cc, extra, output) {
  const r = spawnSync(
    cc,
    ["-O1", "-g0", "-Wall", "-Wextra", "-std=gnu11", ...extra, "-o", join(out, output), ...sources],
    { stdio: ["ignore", "inherit", "pipe"], encoding: "utf8" },
  );
  if (r.stderr) process.stderr.write(r.stderr);
  if (r.error) return `${cc}: ${r.error.message}`;
  if (r.status === 0) return undefined;
  const first = (r.stderr || "").split("\n").find((l) => / error: |cannot find/.test(l));
  return `${cc} failed with exit code ${r.status}${first ? `: ${first.trim()}` : ""}`;
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
const failed = compile(cc, [], "sigframe-helper");
if (failed) unavailable(failed);
const staticFailed = compile(cc, ["-static"], "sigframe-helper-static");
if (staticFailed) {
  writeFileSync(staticMarker, `${staticFailed} (a static libc is needed: Debian's libc6-dev)\n`);
  console.warn(`sigframe: static native helper not built: ${staticFailed}`);
}
