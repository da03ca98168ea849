/**
 * The package root: the nearest folder above a module with sigframe's package.json. Modules find
 * what ships beside them (native/build, web/dist) from it, whether they run from src/, from the
 * tsc output in dist/ or from a chunk of the CLI bundle in dist/bundle/chunks/.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export function packageRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (;;) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "sigframe") return dir;
      } catch {}
    }
    const up = dirname(dir);
    if (up === dir) return join(from, "..", "..");
    dir = up;
  }
}
