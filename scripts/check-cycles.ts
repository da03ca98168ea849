/**
 * Fails when modules import each other in a cycle (type-only and dynamic imports included): a
 * module's dependencies must form a tree of layers, so any file can be read, tested and loaded
 * without first loading the files that use it. Run by `npm test`; prints every cycle it finds.
 *
 *   node --import tsx scripts/check-cycles.ts [DIR…]   (default: src web/src)
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const dirs = process.argv.length > 2 ? process.argv.slice(2) : ["src", "web/src"];

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (/\.ts$/.test(name) && !name.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

/** The project files a module imports (relative specifiers only: packages cannot import us back). */
function imports(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
  return info.importedFiles
    .map((f) => f.fileName)
    .filter((s) => s.startsWith("."))
    .map((s) => resolve(dirname(file), s.replace(/\.js$/, ".ts")));
}

const files = dirs.flatMap((d) => sources(resolve(root, d)));
const known = new Set(files);
const graph = new Map(files.map((f) => [f, imports(f).filter((t) => known.has(t))]));

// Tarjan's strongly connected components: every component of more than one module (or a module
// importing itself) is a cycle.
let counter = 0;
const index = new Map<string, number>();
const low = new Map<string, number>();
const stack: string[] = [];
const onStack = new Set<string>();
const cycles: string[][] = [];
function visit(v: string): void {
  index.set(v, counter);
  low.set(v, counter);
  counter++;
  stack.push(v);
  onStack.add(v);
  for (const w of graph.get(v) ?? []) {
    if (!index.has(w)) {
      visit(w);
      low.set(v, Math.min(low.get(v)!, low.get(w)!));
    } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
  }
  if (low.get(v) === index.get(v)) {
    const scc: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      scc.push(w);
    } while (w !== v);
    if (scc.length > 1 || graph.get(v)!.includes(v)) cycles.push(scc);
  }
}
for (const f of files) if (!index.has(f)) visit(f);

/** One concrete loop through a component, for the message: a → b → … → a. */
function loopIn(scc: string[]): string[] {
  const inScc = new Set(scc);
  const start = [...scc].sort()[0]!;
  const path = [start];
  const seen = new Set([start]);
  for (;;) {
    const next = graph.get(path.at(-1)!)!.filter((w) => inScc.has(w));
    if (next.includes(start)) return [...path, start];
    const step = next.find((w) => !seen.has(w)) ?? next[0]!;
    if (seen.has(step)) return [...path.slice(path.indexOf(step)), step];
    path.push(step);
    seen.add(step);
  }
}

const rel = (f: string) => relative(root, f);
if (cycles.length) {
  for (const c of cycles) console.error(`import cycle: ${loopIn(c).map(rel).join(" → ")}`);
  console.error(`${cycles.length} import cycle${cycles.length === 1 ? "" : "s"} in ${dirs.join(", ")}`);
  process.exit(1);
}
console.log(`no import cycles: ${files.length} modules in ${dirs.join(", ")}`);
