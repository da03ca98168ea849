/**
 * Shared pieces of the hostile-input sweep: run the CLI in-process and hold every run to the
 * contract for bad input; seeded byte mutations of a valid input; a few input generators.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import fc from "fast-check";
import { sigframe } from "../helpers/cli.ts";

/** The contract's error line: `sigframe: <input>[:<where>]: <what went wrong>`. */
export const ERROR_LINE = /^sigframe: [^:\s][^:]*(?::[^:]*)*: \S.*$/;

export interface RunResult {
  code: number;
  out: string;
  err: string;
  bytes: number;
}

export interface Expect {
  /** A file the command was asked to write (`-o`, `--save-profile`): absent after exit 2. */
  output?: string;
  /** The error line must name this input (or one of these), when the exit is 2. */
  input?: string | string[];
}

/** Runs `sigframe args` in-process and asserts the contract for whatever comes back. */
export const stats = { runs: 0, byCode: new Map<number, number>() };

export async function cli(args: string[], expect: Expect = {}): Promise<RunResult> {
  const io = await sigframe(args);
  const code = io.code;
  const r: RunResult = {
    code,
    out: io.out,
    err: io.err,
    bytes: io.bytes.reduce((n, b) => n + b.length, 0),
  };
  stats.runs++;
  stats.byCode.set(code, (stats.byCode.get(code) ?? 0) + 1);
  const what = `sigframe ${args.join(" ")}\n  exit ${code}\n  stderr: ${io.err.slice(0, 2000)}`;
  assert.ok([0, 1, 2, 3].includes(code), `unexpected exit code: ${what}`);
  if (code === 2) {
    const lines = io.err.split("\n").filter((l) => l !== "");
    const errors = lines.filter((l) => !l.startsWith("sigframe: warning: "));
    assert.equal(errors.length, 1, `exactly one error line: ${what}`);
    assert.equal(lines.length, 1, `only the error line on stderr: ${what}`);
    assert.match(lines[0]!, ERROR_LINE, what);
    assert.ok(!lines[0]!.includes("internal error"), what);
    if (expect.input !== undefined) {
      const names = Array.isArray(expect.input) ? expect.input : [expect.input];
      assert.ok(
        names.some((n) => lines[0]!.startsWith(`sigframe: ${n}`)),
        `error names ${names.join(" or ")}: ${what}`,
      );
    }
    assert.equal(r.out, "", `nothing on stdout: ${what}`);
    assert.equal(r.bytes, 0, `no bytes on stdout: ${what}`);
    if (expect.output !== undefined) {
      assert.ok(!existsSync(expect.output), `no output file left behind: ${what}`);
      assert.deepEqual(
        leftovers(expect.output),
        [],
        `no temporary file left behind next to ${expect.output}: ${what}`,
      );
    }
  }
  return r;
}

/** Temporary files an atomic write may have left next to `path`. */
function leftovers(path: string): string[] {
  const slash = path.lastIndexOf("/");
  const dir = path.slice(0, slash);
  const base = path.slice(slash + 1);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.startsWith(`.${base}.`) && f.endsWith(".tmp"));
}

// Mutations.

export type Mutation =
  | { kind: "truncate"; at: number }
  | { kind: "flip"; at: number; xor: number }
  | { kind: "u32"; at: number; value: number }
  | { kind: "u64"; at: number; value: bigint }
  | { kind: "append"; bytes: Uint8Array }
  | { kind: "random"; bytes: Uint8Array }
  | { kind: "empty" };

/** Values written into length and size fields. */
export const U32_VALUES = [0xffffffff, 0x7fffffff, 0x80000000, 0, 1, 0xfffffff0, 0x10000, 0x1000];
export const U64_VALUES = [
  0xffffffffffffffffn,
  0x7fffffffffffffffn,
  1n << 62n,
  1n << 35n,
  0n,
  0xffffffffn,
  1n << 47n,
];

/**
 * One to three mutations of an input of `size` bytes; `interesting` offsets (header fields,
 * lengths, counts) are hit far more often than random ones.
 */
export function mutationsArb(size: number, interesting: readonly number[]): fc.Arbitrary<Mutation[]> {
  const spots = interesting.filter((o) => o >= 0 && o < Math.max(size, 1));
  const offset = spots.length
    ? fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom(...spots) },
        { weight: 1, arbitrary: fc.nat(Math.max(0, size - 1)) },
      )
    : fc.nat(Math.max(0, size - 1));
  const one: fc.Arbitrary<Mutation> = fc.oneof(
    { weight: 3, arbitrary: offset.map((at) => ({ kind: "truncate" as const, at })) },
    {
      weight: 3,
      arbitrary: fc
        .tuple(fc.nat(Math.max(0, size - 1)), fc.integer({ min: 1, max: 255 }))
        .map(([at, xor]) => ({ kind: "flip" as const, at, xor })),
    },
    {
      weight: 4,
      arbitrary: fc
        .tuple(offset, fc.constantFrom(...U32_VALUES))
        .map(([at, value]) => ({ kind: "u32" as const, at, value })),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(offset, fc.constantFrom(...U64_VALUES))
        .map(([at, value]) => ({ kind: "u64" as const, at, value })),
    },
    {
      weight: 1,
      arbitrary: fc
        .uint8Array({ minLength: 1, maxLength: 300 })
        .map((bytes) => ({ kind: "append" as const, bytes })),
    },
    {
      weight: 1,
      arbitrary: fc
        .uint8Array({ minLength: 0, maxLength: 2000 })
        .map((bytes) => ({ kind: "random" as const, bytes })),
    },
    { weight: 1, arbitrary: fc.constant({ kind: "empty" as const }) },
  );
  return fc.array(one, { minLength: 1, maxLength: 3 });
}

export function applyMutations(base: Uint8Array, ms: readonly Mutation[]): Uint8Array {
  let b = Uint8Array.from(base);
  for (const m of ms) {
    const dv = () => new DataView(b.buffer, b.byteOffset, b.byteLength);
    switch (m.kind) {
      case "truncate":
        b = b.slice(0, m.at);
        break;
      case "flip":
        if (m.at < b.length) b[m.at] = b[m.at]! ^ m.xor;
        break;
      case "u32":
        if (m.at + 4 <= b.length) dv().setUint32(m.at, m.value >>> 0, true);
        break;
      case "u64":
        if (m.at + 8 <= b.length) dv().setBigUint64(m.at, m.value, true);
        break;
      case "append": {
        const n = new Uint8Array(b.length + m.bytes.length);
        n.set(b);
        n.set(m.bytes, b.length);
        b = n;
        break;
      }
      case "random":
        b = Uint8Array.from(m.bytes);
        break;
      case "empty":
        b = new Uint8Array(0);
        break;
    }
  }
  return b;
}

/** For failure messages: the mutations in a readable form. */
export function describeMutations(ms: readonly Mutation[]): string {
  return ms
    .map((m) =>
      m.kind === "u64"
        ? `u64@${m.at}=0x${m.value.toString(16)}`
        : m.kind === "u32"
          ? `u32@${m.at}=0x${m.value.toString(16)}`
          : m.kind === "truncate"
            ? `truncate@${m.at}`
            : m.kind === "flip"
              ? `flip@${m.at}^${m.xor}`
              : m.kind === "empty"
                ? "empty"
                : `${m.kind}(${m.bytes.length})`,
    )
    .join(", ");
}

// JSON-aware mutations: replace one value somewhere in the document with a hostile one.

export const HOSTILE_JSON_VALUES: unknown[] = [
  null,
  -1,
  1.5,
  2 ** 64,
  1e308,
  "",
  "0x",
  "0xffffffffffffffffffffffff",
  "-0x1",
  "zz",
  "0x1g",
  [],
  {},
  true,
  "\u0000",
  [[[[[]]]]],
];

/** Every path (list of keys/indices) to a value in a JSON document, the root included. */
export function jsonPaths(doc: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []) {
  out.push(prefix);
  if (Array.isArray(doc)) {
    for (let i = 0; i < doc.length; i++) jsonPaths(doc[i], [...prefix, i], out);
  } else if (doc !== null && typeof doc === "object")
    for (const [k, v] of Object.entries(doc)) jsonPaths(v, [...prefix, k], out);
  return out;
}

export type JsonMutation =
  | { path: (string | number)[]; op: "set"; value: unknown }
  | { path: (string | number)[]; op: "delete" };

export function jsonMutationArb(doc: unknown): fc.Arbitrary<JsonMutation[]> {
  const paths = jsonPaths(doc);
  const one: fc.Arbitrary<JsonMutation> = fc.oneof(
    {
      weight: 4,
      arbitrary: fc
        .tuple(fc.constantFrom(...paths), fc.constantFrom(...HOSTILE_JSON_VALUES))
        .map(([path, value]) => ({ path, op: "set" as const, value })),
    },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom(...paths.filter((p) => p.length > 0))
        .map((path) => ({ path, op: "delete" as const })),
    },
  );
  return fc.array(one, { minLength: 1, maxLength: 3 });
}

export function applyJsonMutations(doc: unknown, ms: readonly JsonMutation[]): unknown {
  let root = structuredClone(doc);
  for (const m of ms) {
    if (m.path.length === 0) {
      if (m.op === "set") root = structuredClone(m.value);
      continue;
    }
    let parent: unknown = root;
    for (const k of m.path.slice(0, -1)) {
      if (parent === null || typeof parent !== "object") break;
      parent = (parent as Record<string | number, unknown>)[k];
    }
    if (parent === null || typeof parent !== "object") continue;
    const last = m.path[m.path.length - 1]!;
    const p = parent as Record<string | number, unknown>;
    if (m.op === "delete") {
      if (Array.isArray(p)) p.splice(Number(last), 1);
      else delete p[last];
    } else p[last] = structuredClone(m.value);
  }
  return root;
}

/** `cpuid -r` text (one CPU block) from a cpuid-corpus JSON document. */
export function cpuidRText(doc: { leaves: Record<string, string>[] }): string {
  const lines = ["CPU 0:"];
  for (const l of doc.leaves)
    lines.push(
      `   ${l.leaf} ${l.subleaf.replace(/^0x0*(?=[0-9a-f]{2})/, "0x")}: eax=${l.eax} ebx=${l.ebx} ecx=${l.ecx} edx=${l.edx}`,
    );
  return `${lines.join("\n")}\n`;
}

/** Offsets of every line start and every `0x` in a text: where truncation and flips matter most. */
export function textSpots(text: string): number[] {
  const out: number[] = [0];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "\n") out.push(i + 1);
    if (text[i] === "0" && text[i + 1] === "x") out.push(i, i + 2);
  }
  return out;
}
