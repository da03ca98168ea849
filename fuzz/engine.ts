/**
 * One family's campaign, in-process: each execution picks a seed (or an input kept earlier), mutates
 * one of its files, runs one of its commands through the CLI as a user would (`run()` with the
 * case written to a scratch folder) and classifies the outcome against the contract:
 *
 * - `ok`: exit 0, 1 or 3;
 * - `typed`: exit 2 (or 4) with exactly the contract's one error line, nothing on stdout, no
 *   output file left;
 * - `untyped`: anything else: an internal error (exit 70), an exception, more than one line, a
 *   partial output;
 * - `time`: more CPU than the time budget for one execution;
 * - `memory`: the process's peak memory rose by more than the memory budget during one execution.
 *
 * Execution N of a family is a function of (seed, N) and of the inputs kept before it, so a
 * campaign of a given length is the same on every machine. Inputs whose outcome is new (a new
 * exit code, error message shape or finding) are kept and mutated further.
 */
import { existsSync, mkdirSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { memoryIo } from "../src/cli/context.ts";
import { run } from "../src/cli/main.ts";
import { isSigframeError } from "../src/core/errors.ts";
import { type CoreRun, coreRuns, IN } from "./core-runs.ts";
import type { Family, Format, Seed } from "./families.ts";
import {
  criuSpots,
  type Donors,
  elfSpots,
  mutateBytes,
  mutateCpuidText,
  mutateCriu,
  mutateElf,
  mutateJson,
  textSpots,
} from "./mutate.ts";
import { hashString, mix, Rng } from "./rng.ts";

/** Bytes of kept inputs a campaign holds at most. */
const MAX_KEPT_BYTES = 64 * 1024 * 1024;

export type OutcomeKind = "ok" | "typed" | "untyped" | "time" | "memory";

/**
 * What an execution runs: `command`, the whole CLI as a user runs it (files on tmpfs, argument
 * parsing, rendering); `core`, the family's readers called on the bytes in memory (core-runs.ts).
 */
export type Level = "command" | "core";
export const LEVELS: readonly Level[] = ["command", "core"];
export const OUTCOMES: readonly OutcomeKind[] = ["ok", "typed", "untyped", "time", "memory"];

/** The contract's error line. */
export const ERROR_LINE = /^sigframe: [^:\s][^:]*(?::[^:]*)*: \S.*$/;

export interface Budgets {
  /** CPU milliseconds one execution may take (0: not checked). */
  timeMs: number;
  /** Bytes the process's peak memory may rise during one execution (0: not checked). */
  memoryBytes: number;
}

export interface Case {
  seed: number;
  /** The mutated file and its new bytes. */
  file: string;
  bytes: Uint8Array;
  command: number;
  /** Other files that differ from the seed's (an input kept earlier). */
  extra?: Map<string, Uint8Array>;
}

export interface Outcome {
  kind: OutcomeKind;
  code: number;
  /** What identifies the outcome for de-duplication: kind, command, the error's shape. */
  signature: string;
  /** The error line, or the internal error's first lines. */
  detail: string;
  cpuMs: number;
  memoryBytes: number;
}

export interface Finding {
  family: string;
  exec: number;
  outcome: Outcome;
  args: string[];
  /** Every file of the case (the mutated one minimised). */
  files: Map<string, Uint8Array>;
  /** Relative path that `$IN` stands for ("" = the case folder). */
  main: string;
  seedLabel: string;
  minimisedFrom?: number;
}

const FORMAT_SPOTS: Record<Format, (b: Uint8Array) => number[]> = {
  json: textSpots,
  cpuid: textSpots,
  criu: criuSpots,
  elf: elfSpots,
  frame: magicSpots,
  raw: magicSpots,
  archive: tarSpots,
  bytes: () => [],
};

/** Frames in a buffer: the fields around every magic1 (sw_bytes, XSAVE header, the frame below). */
export function magicSpots(b: Uint8Array): number[] {
  const out = [0, 8, 16, 24, 40, 160, 168, 216, 232, 280, 304, 440, 448];
  for (
    let i = b.indexOf(0x53);
    i >= 0 && i + 4 <= b.length && out.length < 4000;
    i = b.indexOf(0x53, i + 1)
  ) {
    if (b[i + 1] !== 0x58 || b[i + 2] !== 0x50 || b[i + 3] !== 0x46) continue;
    const fp = i - 464;
    for (const f of [0, 2, 4, 24, 28, 464, 468, 472, 480, 512, 520, 528, 576, 832, 1088]) out.push(fp + f);
    const size = new DataView(b.buffer, b.byteOffset).getUint32(Math.min(i + 16, b.length - 4), true);
    if (size < b.length) out.push(fp + size);
    // The rt_sigframe the kernel puts below: pretcode, uc_flags, sigcontext rsp/rip, fpstate pointer.
    for (const f of [456, 448, 440, 320, 304, 288, 224, 216, 208]) out.push(fp - f);
  }
  return out.filter((o) => o >= 0 && o < b.length);
}

/** A tar: every member header's name, size, checksum and type fields. */
export function tarSpots(b: Uint8Array): number[] {
  const out = [0, 4, 8];
  if (b.length < 512 || b[257] !== 0x75) return out;
  for (let o = 0; o + 512 <= b.length && out.length < 2000; ) {
    out.push(o, o + 100, o + 124, o + 130, o + 135, o + 148, o + 156, o + 257, o + 345);
    const size = Number.parseInt(new TextDecoder().decode(b.subarray(o + 124, o + 135)), 8);
    if (!Number.isFinite(size) || size < 0) break;
    o += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

/** Normalises an error line into a shape: no paths, numbers or quoted values. */
export function shapeOf(line: string, paths: readonly string[]): string {
  let s = line;
  for (const p of paths) s = s.split(p).join("IN");
  return s
    .replace(/"[^"]*"/g, '"…"')
    .replace(/0x[0-9a-f]+/gi, "#")
    .replace(/\d+/g, "#")
    .slice(0, 200);
}

/**
 * The first stack frame of an internal error that is in the project's code: `src/…:line` from
 * sources, the function's name from the worker bundle (its line numbers change with every build).
 */
export function firstOwnFrame(stack: string): string {
  for (const l of stack.split("\n")) {
    const m = /\/(src\/[^):]+):(\d+)/.exec(l);
    if (m) return `${m[1]}:${m[2]}`;
    const f = /^\s+at (?:async )?([\w$.<>]+) \((?!node:|<anonymous>)/.exec(l);
    if (f) return f[1]!;
  }
  return "";
}

export interface RunnerOptions {
  family: Family;
  seed: number;
  /** Scratch folder for the cases (created; removed by close()). */
  dir: string;
  budgets: Budgets;
  /** Most kept inputs beyond the seeds. */
  maxKept?: number;
  /** Default `command`. */
  level?: Level;
}

interface Entry {
  seed: number;
  /** Files that differ from the seed's. */
  changed: Map<string, Uint8Array>;
}

export class Runner {
  readonly family: Family;
  readonly seeds: Seed[];
  private readonly seedSum: number[];
  private readonly dir: string;
  private readonly budgets: Budgets;
  private readonly base: number;
  private readonly kept: Entry[] = [];
  private keptBytes = 0;
  /** Per seed folder, the files that hold an execution's bytes instead of the seed's. */
  private readonly dirty = new Map<number, Set<string>>();
  private readonly seen = new Set<string>();
  private readonly maxKept: number;
  /**
   * The spots of inputs mutated again and again (seeds, kept inputs), for as long as they live: a
   * round's intermediate bytes are mutated once and their entry goes with them.
   */
  private readonly spotCache = new WeakMap<Uint8Array, number[]>();
  readonly counts: Record<OutcomeKind, number> = { ok: 0, typed: 0, untyped: 0, time: 0, memory: 0 };
  execs = 0;
  cpuMs = 0;
  private rssSample = 0;
  readonly level: Level;
  /** Per seed, its parser-level runs (level `core`). */
  private readonly core: CoreRun[][];

  constructor(o: RunnerOptions) {
    this.family = o.family;
    this.seeds = o.family.seeds();
    if (!this.seeds.length) throw new Error(`family ${o.family.name} has no seeds`);
    let sum = 0;
    this.seedSum = this.seeds.map((s) => (sum += s.weight));
    this.dir = o.dir;
    this.budgets = o.budgets;
    this.base = mix(o.seed, hashString(o.family.name));
    this.maxKept = o.maxKept ?? 256;
    this.level = o.level ?? "command";
    this.core = this.level === "core" ? this.seeds.map((s) => coreRuns(o.family.name, s)) : [];
    // Compressed inputs go through the core's decoders (the ones the browser runs, the parsers under
    // test), never through a decompressor process: an execution stopped as a hang leaves nothing behind.
    process.env.SIGFRAME_DECOMPRESS = "in-process";
    rmSync(this.dir, { recursive: true, force: true });
    mkdirSync(this.dir, { recursive: true });
    // Every seed's files are written once; an execution rewrites only the file it mutates.
    this.seeds.forEach((s, i) => {
      const d = this.seedDir(i);
      mkdirSync(d, { recursive: true });
      for (const [n, b] of s.files) writeFileSync(join(d, n), this.stored(i, b));
    });
  }

  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** A file's bytes as written: wrapped (compressed) when the seed says so. */
  private stored(seed: number, b: Uint8Array): Uint8Array {
    const wrap = this.seeds[seed]!.wrap;
    return wrap ? wrap(b) : b;
  }

  seedDir(i: number): string {
    return join(this.dir, `s${i}`);
  }

  private pickSeed(rng: Rng): number {
    const total = this.seedSum[this.seedSum.length - 1]!;
    const r = rng.int(total);
    let lo = 0;
    while (this.seedSum[lo]! <= r) lo++;
    return lo;
  }

  private spots(format: Format, b: Uint8Array): number[] {
    let s = this.spotCache.get(b);
    if (!s) {
      s = FORMAT_SPOTS[format](b);
      this.spotCache.set(b, s);
    }
    return s;
  }

  /** The input of execution `n` (a pure function of the seed, n and what was kept before). */
  generate(n: number): Case {
    const rng = new Rng(mix(this.base, n));
    const fromKept = this.kept.length > 0 && rng.chance(0.3);
    const entry: Entry = fromKept ? rng.pick(this.kept) : { seed: this.pickSeed(rng), changed: new Map() };
    const seed = this.seeds[entry.seed]!;
    const [file, format] = rng.pick(seed.mutable);
    const original = entry.changed.get(file) ?? seed.files.get(file)!;
    const donor = rng.pick(this.seeds);
    const donors: Donors = { others: [donor.files.get(rng.pick(donor.mutable)[0])!, original] };
    let bytes = original;
    const rounds = rng.chance(0.2) ? 2 + rng.int(3) : 1;
    for (let r = 0; r < rounds; r++) bytes = this.mutate(rng, format, bytes, donors);
    const c: Case = { seed: entry.seed, file, bytes, command: rng.int(this.commandCount(entry.seed)) };
    // A kept entry's other changed files come along.
    const extra = [...entry.changed].filter(([n]) => n !== file);
    if (extra.length) c.extra = new Map(extra);
    return c;
  }

  private mutate(rng: Rng, format: Format, b: Uint8Array, donors: Donors): Uint8Array {
    switch (format) {
      case "json":
        return mutateJson(rng, b, donors);
      case "cpuid":
        return mutateCpuidText(rng, b, donors);
      case "criu":
        return mutateCriu(rng, b, this.spots(format, b), donors);
      case "elf":
        return mutateElf(rng, b, this.spots(format, b), donors);
      default:
        return mutateBytes(rng, b, this.spots(format, b), donors);
    }
  }

  /** How many commands (or parser-level runs) a seed has. */
  commandCount(seed: number): number {
    return this.level === "core" ? this.core[seed]!.length : this.seeds[seed]!.commands.length;
  }

  /** The command a case runs (at the core level: the CLI command that reads it the same way). */
  template(c: Case): string[] {
    return this.level === "core"
      ? this.core[c.seed]![c.command]!.command
      : this.seeds[c.seed]!.commands[c.command]!;
  }

  /** Paths of a case: the folder, `$IN` and `$OUT`. */
  paths(c: Case): { dir: string; input: string; output: string; args: string[] } {
    const seed = this.seeds[c.seed]!;
    const dir = this.seedDir(c.seed);
    const input = seed.main ? join(dir, seed.main) : dir;
    const output = join(this.dir, "out.bin");
    const args = this.template(c).map((a) => (a === "$IN" ? input : a === "$OUT" ? output : a));
    return { dir, input, output, args };
  }

  /** Writes a case into its seed's folder (files an earlier case changed are put back first). */
  materialise(c: Case): void {
    const seed = this.seeds[c.seed]!;
    const dir = this.seedDir(c.seed);
    const extra = c.extra;
    const dirty = this.dirty.get(c.seed) ?? new Set<string>();
    this.dirty.set(c.seed, dirty);
    for (const n of dirty)
      if (n !== c.file && !extra?.has(n)) {
        writeFileSync(join(dir, n), this.stored(c.seed, seed.files.get(n)!));
        dirty.delete(n);
      }
    writeFileSync(join(dir, c.file), this.stored(c.seed, c.bytes));
    dirty.add(c.file);
    if (extra)
      for (const [n, b] of extra) {
        writeFileSync(join(dir, n), this.stored(c.seed, b));
        dirty.add(n);
      }
  }

  /** Runs a case: writes its files, runs the command (or, at the core level, its readers in memory). */
  async execute(c: Case): Promise<Outcome> {
    if (this.level === "core") return this.executeCore(c);
    const { dir, input, output, args } = this.paths(c);
    this.materialise(c);
    const io = memoryIo();
    // One getrusage() before and after gives both CPU time and peak memory; resident memory is
    // read every 32 executions (it costs a /proc read) as the base a new peak is measured from.
    let code = -1;
    let thrown: unknown;
    const { cpuMs, memoryBytes } = await this.measured(async () => {
      try {
        code = await run(args, io);
      } catch (e) {
        thrown = e;
      }
    });
    const outputLeft = existsSync(output);
    if (outputLeft) unlinkSync(output);
    const o = this.classify(this.seeds[c.seed]!.commands[c.command]!, code, io, thrown, outputLeft, [
      input,
      dir,
    ]);
    return this.budget(o, cpuMs, memoryBytes);
  }

  /**
   * A case at the core level: the family's readers on the case's files in memory. A SigframeError
   * is a typed outcome when its line is the contract's; anything else thrown is untyped.
   */
  private async executeCore(c: Case): Promise<Outcome> {
    const seed = this.seeds[c.seed]!;
    const r = this.core[c.seed]![c.command]!;
    const files = this.caseFiles(c);
    let thrown: unknown;
    let returned = false;
    const { cpuMs, memoryBytes } = await this.measured(async () => {
      try {
        await r.run(files, seed.main);
        returned = true;
      } catch (e) {
        thrown = e;
      }
    });
    const cmd = r.command.join(" ");
    const o: Outcome = { kind: "ok", code: 0, signature: `ok: ${cmd}`, detail: "", cpuMs: 0, memoryBytes: 0 };
    if (!returned) {
      const e = thrown as Error;
      if (isSigframeError(e)) {
        const line = e.oneLine(IN);
        o.code = e.kind === "environment" ? 4 : 2;
        o.detail = line;
        if (!line.includes("\n") && ERROR_LINE.test(line)) {
          o.kind = "typed";
          o.signature = `typed: ${cmd}: ${shapeOf(line, [IN])}`;
        } else {
          o.kind = "untyped";
          o.signature = `untyped: ${cmd}: contract: not the contract's error line: ${shapeOf(line.split("\n")[0]!, [IN])}`;
        }
      } else {
        o.kind = "untyped";
        o.code = 70;
        o.detail = String(e?.stack ?? e).slice(0, 4000);
        o.signature = `untyped: ${cmd}: threw ${e?.name}: ${shapeOf(String(e?.message), [IN])} @${firstOwnFrame(o.detail)}`;
      }
    }
    return this.budget(o, cpuMs, memoryBytes);
  }

  /**
   * The CPU time `fn` took and how far it raised the process's peak memory. One getrusage() before
   * and after gives both; resident memory is read every 32 executions (it costs a /proc read) as
   * the base a new peak is measured from.
   */
  private async measured(fn: () => Promise<void>): Promise<{ cpuMs: number; memoryBytes: number }> {
    if (this.execs % 32 === 0) this.rssSample = process.memoryUsage.rss();
    const before = process.resourceUsage();
    await fn();
    const after = process.resourceUsage();
    return {
      cpuMs: (after.userCPUTime + after.systemCPUTime - before.userCPUTime - before.systemCPUTime) / 1000,
      memoryBytes:
        after.maxRSS > before.maxRSS
          ? after.maxRSS * 1024 - Math.min(this.rssSample, before.maxRSS * 1024)
          : 0,
    };
  }

  /** The time and memory an execution took, and whether they were over budget. */
  private budget(o: Outcome, cpuMs: number, memoryBytes: number): Outcome {
    o.cpuMs = cpuMs;
    o.memoryBytes = memoryBytes;
    if (o.kind !== "untyped") {
      if (this.budgets.memoryBytes && memoryBytes > this.budgets.memoryBytes) {
        o.kind = "memory";
        o.signature = `memory: ${o.signature}`;
      } else if (this.budgets.timeMs && cpuMs > this.budgets.timeMs) {
        o.kind = "time";
        o.signature = `time: ${o.signature}`;
      }
    }
    return o;
  }

  private classify(
    template: string[],
    code: number,
    io: ReturnType<typeof memoryIo>,
    thrown: unknown,
    outputLeft: boolean,
    paths: string[],
  ): Outcome {
    // The command as the family states it ($IN, $OUT): the same for every case and run.
    const cmd = template.join(" ");
    const o: Outcome = { kind: "ok", code, signature: "", detail: "", cpuMs: 0, memoryBytes: 0 };
    if (thrown !== undefined) {
      const e = thrown as Error;
      o.kind = "untyped";
      o.detail = String(e?.stack ?? e).slice(0, 4000);
      o.signature = `untyped: ${cmd}: threw ${e?.name}: ${shapeOf(String(e?.message), paths)} @${firstOwnFrame(o.detail)}`;
      return o;
    }
    const lines = io.err.split("\n").filter((l) => l !== "");
    if (code === 70 || io.err.includes("internal error")) {
      o.kind = "untyped";
      o.detail = io.err.slice(0, 4000);
      const first = lines[0] ?? "";
      o.signature = `untyped: ${cmd}: ${shapeOf(first.replace(/^sigframe: internal error: /, ""), paths)} @${firstOwnFrame(io.err)}`;
      return o;
    }
    if (code === 2 || code === 4) {
      const errors = lines.filter((l) => !l.startsWith("sigframe: warning: "));
      const problems: string[] = [];
      if (errors.length !== 1 || lines.length !== 1) problems.push(`${lines.length} lines on stderr`);
      else if (!ERROR_LINE.test(lines[0]!)) problems.push("not the contract's error line");
      if (io.out !== "" || io.bytes.length) problems.push("output on stdout");
      if (outputLeft) problems.push("an output file left behind");
      o.detail = io.err.slice(0, 2000);
      if (problems.length) {
        o.kind = "untyped";
        o.signature = `untyped: ${cmd}: contract: ${problems.join(", ")}: ${shapeOf(lines[0] ?? "", paths)}`;
        return o;
      }
      o.kind = "typed";
      o.signature = `typed: ${cmd}: ${shapeOf(lines[0]!, paths)}`;
      return o;
    }
    if (code === 0 || code === 1 || code === 3) {
      o.signature = `ok: ${cmd}: exit ${code}`;
      return o;
    }
    o.kind = "untyped";
    o.detail = io.err.slice(0, 2000);
    o.signature = `untyped: ${cmd}: exit ${code}`;
    return o;
  }

  /** Runs execution `n`: generates, executes, counts, keeps the input if its outcome is new. */
  async step(n: number, onRun?: (c: Case) => void): Promise<{ c: Case; o: Outcome; fresh: boolean }> {
    const c = this.generate(n);
    onRun?.(c);
    const o = await this.execute(c);
    this.execs++;
    this.cpuMs += o.cpuMs;
    this.counts[o.kind]++;
    const fresh = !this.seen.has(o.signature);
    if (fresh) {
      this.seen.add(o.signature);
      // Kept inputs stay small (no larger than twice their seed's file), so the pool's memory is bounded.
      const seed = this.seeds[c.seed]!;
      const small = c.bytes.length <= Math.max(2 * seed.files.get(c.file)!.length, 65536);
      if (
        this.kept.length < this.maxKept &&
        o.kind !== "memory" &&
        small &&
        this.keptBytes < MAX_KEPT_BYTES
      ) {
        const changed = new Map(c.extra ?? []);
        changed.set(c.file, c.bytes);
        this.kept.push({ seed: c.seed, changed });
        for (const b of changed.values()) this.keptBytes += b.length;
      }
    }
    return { c, o, fresh };
  }

  /** Every file of a case as written (the mutated ones in place of the seed's, wrapped where the seed is). */
  caseFiles(c: Case): Map<string, Uint8Array> {
    const files = new Map(this.seeds[c.seed]!.files);
    if (c.extra) for (const [n, b] of c.extra) files.set(n, b);
    files.set(c.file, c.bytes);
    for (const [n, b] of files) files.set(n, this.stored(c.seed, b));
    return files;
  }

  /**
   * Shrinks the mutated file while `same(outcome)` holds: chunks removed (halves down to single
   * bytes), then the tail cut, within `attempts` executions.
   */
  async minimise(c: Case, same: (o: Outcome) => boolean, attempts: number): Promise<Case> {
    let best = c;
    let left = attempts;
    const tryBytes = async (b: Uint8Array): Promise<boolean> => {
      if (left-- <= 0) return false;
      const cand = { ...best, bytes: b };
      const o = await this.execute(cand);
      if (same(o)) {
        best = cand;
        return true;
      }
      return false;
    };
    for (let chunk = Math.max(1, best.bytes.length >> 1); chunk >= 1 && left > 0; chunk >>= 1) {
      for (let at = 0; at < best.bytes.length && left > 0; ) {
        const b = best.bytes;
        const cut = new Uint8Array(b.length - Math.min(chunk, b.length - at));
        cut.set(b.subarray(0, at));
        cut.set(b.subarray(at + chunk), at);
        if (!(await tryBytes(cut))) at += chunk;
      }
    }
    return best;
  }
}
