/**
 * Hostile-input sweep over every input the CLI reads. Each input kind starts from a real, valid
 * input (built with `sigframe build`, read in place from the shared fixtures and corpus, or
 * generated), then seeded mutations are applied and the CLI is run in-process. Every run must end
 * with exit 0, 1, 2 or 3 (a mutated input may still be valid), never an internal error; on exit 2
 * exactly the contract's one error line, nothing on stdout, and no output file.
 *
 * Seeds are fixed: a failure prints fast-check's seed and path, which replay it
 * (SIGFRAME_FUZZ_SEED overrides the base seed, SIGFRAME_FUZZ_SCALE multiplies the run counts).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { decodeCore, decodeMm } from "../../src/core/criu/decode.ts";
import { core_entrySchema, thread_sas_entrySchema } from "../../src/core/criu/gen/core_pb.ts";
import { mm_entrySchema } from "../../src/core/criu/gen/mm_pb.ts";
import { pagemap_entrySchema, pagemap_headSchema } from "../../src/core/criu/gen/pagemap_pb.ts";
import { pstree_entrySchema } from "../../src/core/criu/gen/pstree_pb.ts";
import { vma_entrySchema } from "../../src/core/criu/gen/vma_pb.ts";
import { IMAGE_MAGICS, IMG_COMMON_MAGIC } from "../../src/core/criu/image.ts";
import { buildCore, NT_PRSTATUS, NT_X86_XSTATE, prstatus, xstate } from "../core/elf/build.ts";
import { bundledCli } from "../helpers/cli-bundle.ts";
import { CORPUS, FIXTURES, needs, REPO_ROOT } from "../helpers/shared.ts";
import {
  applyJsonMutations,
  applyMutations,
  cli,
  cpuidRText,
  describeMutations,
  type Expect,
  jsonMutationArb,
  type Mutation,
  mutationsArb,
  stats,
  textSpots,
} from "./harness.ts";
import { criuSpots, elfSpots, frameSpots } from "./inputs.ts";

const SEED = Number(process.env.SIGFRAME_FUZZ_SEED ?? 20240611);
const SCALE = Number(process.env.SIGFRAME_FUZZ_SCALE ?? 6);
const runs = (n: number) => Math.max(1, Math.round(n * SCALE));

const CRIU_S2 = join(FIXTURES, "criu", "S2");
const CORE_DIR = join(FIXTURES, "core");
const HAVE_FIXTURES = needs(CRIU_S2, "CRIU fixtures");
const HAVE_CORPUS = needs(CORPUS, "cpuid corpus");
const CORPUS_FILE = join(CORPUS, "amd-ryzen-9-7950x-16-core-processor.json");

const tmp = mkdtempSync(join(tmpdir(), "sigframe-hostile-"));
let counter = 0;
/** A fresh path in the temp folder. */
const fresh = (name: string) => join(tmp, `${counter++}-${name}`);

after(() => {
  rmSync(tmp, { recursive: true, force: true });
  if (process.env.SIGFRAME_FUZZ_STATS)
    console.log(`runs ${stats.runs}, exit codes ${JSON.stringify([...stats.byCode])}`);
});

/** Runs a seeded property; a failure message carries the seed (fast-check adds seed and path). */
async function property<T>(
  label: string,
  arb: fc.Arbitrary<T>,
  numRuns: number,
  body: (v: T) => Promise<void>,
): Promise<void> {
  const seed = SEED ^ hash(label);
  try {
    await fc.assert(fc.asyncProperty(arb, body), {
      seed,
      numRuns,
      endOnFailure: true,
      includeErrorInReport: true,
    });
  } catch (e) {
    throw new Error(
      `${label}: failed with seed ${seed} (SIGFRAME_FUZZ_SEED=${SEED})\n${(e as Error).message}`,
    );
  }
}

function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** Writes mutated bytes to a fresh file and returns its path. */
function mutatedFile(base: Uint8Array, ms: readonly Mutation[], name: string): string {
  const p = fresh(name);
  writeFileSync(p, applyMutations(base, ms));
  return p;
}

// ---------------------------------------------------------------------------------------------
// Frames: inspect, predict, translate.

interface FrameKind {
  name: string;
  bytes: Uint8Array;
  spots: number[];
  flags: string[];
}

const frames: FrameKind[] = [];

before(async () => {
  const st = join(tmp, "state.json");
  writeFileSync(
    st,
    JSON.stringify({
      rip: "0x401000",
      rsp: "0x7ffffffde100",
      k1: "0xff",
      ymm3: "0x1234",
      zmm17: `0x${"ab".repeat(64)}`,
    }),
  );
  const made: [string, string[], number][] = [
    ["kernel", ["--cpu", "amd-zen4"], 456],
    ["criu", ["--cpu", "amd-zen4", "--style", "criu"], 448],
    ["pwntools", ["--cpu", "amd-zen4", "--style", "pwntools"], 320],
    ["fpstate", ["--cpu", "amd-zen4", "--fpstate-only"], 0],
  ];
  for (const [name, args, fp] of made) {
    const out = join(tmp, `${name}.bin`);
    const r = await cli(["build", ...args, "--state", st, "-o", out]);
    assert.equal(r.code, 0, r.err);
    const bytes = new Uint8Array(readFileSync(out));
    frames.push({
      name,
      bytes,
      spots: frameSpots(fp, 2440, bytes.length),
      flags: name === "fpstate" ? ["--fpstate-only"] : name === "pwntools" ? ["--ucontext"] : ["--frame"],
    });
  }
  // A frame the kernel really wrote (S2, depth 1), from the fixtures' ground truth.
  const truthFile = join(FIXTURES, "truth", "S2.json");
  if (existsSync(truthFile)) {
    const t = JSON.parse(readFileSync(truthFile, "utf8"));
    const f = t.threads[0].frames[0];
    const bytes = new Uint8Array(Buffer.from(f.frame_bytes_hex, "hex"));
    frames.push({ name: "real-S2", bytes, spots: frameSpots(448, 2432, bytes.length), flags: ["--frame"] });
  }
});

describe("hostile frame files", () => {
  test("truncated at every structurally interesting offset", async () => {
    for (const f of frames) {
      for (const at of new Set(f.spots)) {
        const p = mutatedFile(f.bytes, [{ kind: "truncate", at }], `${f.name}-t${at}.bin`);
        await cli(["inspect", p, "--cpu", "amd-zen4", "--json"], { input: p });
        await cli(["predict", p, "--cpu", "amd-zen4", "--policy", "classic", "--json"], { input: p });
      }
    }
  });

  test("seeded mutations: inspect, predict and translate, detected and forced formats", async () => {
    for (const f of frames) {
      const arb = fc.record({
        ms: mutationsArb(f.bytes.length, f.spots),
        forced: fc.boolean(),
        cmd: fc.constantFrom("inspect", "inspect-hexdump", "inspect-svg", "predict", "translate"),
        base: fc.constantFrom(undefined, "0x7ffffffde000", "0xffffffffffffffff", "0"),
      });
      await property(`frame ${f.name}`, arb, runs(45), async ({ ms, forced, cmd, base }) => {
        const p = mutatedFile(f.bytes, ms, `${f.name}.bin`);
        const fl = forced ? f.flags : [];
        const b = base === undefined ? [] : ["--base", base];
        const why = describeMutations(ms);
        const ex: Expect = { input: p };
        try {
          if (cmd === "inspect") await cli(["inspect", p, "--cpu", "amd-zen4", "--json", ...fl, ...b], ex);
          else if (cmd === "inspect-hexdump") await cli(["inspect", p, "--hexdump", ...fl, ...b], ex);
          else if (cmd === "inspect-svg") await cli(["inspect", p, "--svg", "--cpu", "amd-zen4", ...fl], ex);
          else if (cmd === "predict")
            await cli(["predict", p, "--cpu", "amd-zen4", "--all-policies", "--json", ...fl, ...b], ex);
          else {
            const out = fresh("translated.bin");
            await cli(
              ["translate", p, "--from", "amd-zen4", "--to", "intel-sapphirerapids", "-o", out, ...fl, ...b],
              {
                input: p,
                output: out,
              },
            );
          }
        } catch (e) {
          throw new Error(`${f.name} with ${why}: ${(e as Error).message}`);
        }
      });
    }
  });

  test("predict --address and --readable-bytes at their extremes", async () => {
    const f = frames[0]!;
    const values = [
      "0",
      "1",
      "4",
      "0xffffffffffffffff",
      "0xfffffffffffffff0",
      "18446744073709551616",
      "-1",
      "",
      "x",
      "1e3",
      "0x",
      "9007199254740993",
    ];
    for (const v of values) {
      await cli([
        "predict",
        join(tmp, "kernel.bin"),
        "--cpu",
        "amd-zen4",
        "--policy",
        "classic",
        "--readable-bytes",
        v,
      ]);
      await cli([
        "predict",
        join(tmp, "kernel.bin"),
        "--cpu",
        "amd-zen4",
        "--policy",
        "classic",
        "--address",
        v,
      ]);
      await cli(["inspect", join(tmp, "kernel.bin"), "--base", v]);
      await cli(["scan", join(tmp, "kernel.bin"), "--base", v, "--json"]);
    }
    assert.ok(f.bytes.length > 0);
  });
});

// ---------------------------------------------------------------------------------------------
// PROFILE files, through every command that takes one.

interface ProfileKind {
  name: string;
  bytes: Uint8Array;
  spots: number[];
}

const profiles: ProfileKind[] = [];

before(async () => {
  const saved = join(tmp, "profile.json");
  assert.equal((await cli(["layout", "amd-zen4", "--save-profile", saved])).code, 0);
  const sp = new Uint8Array(readFileSync(saved));
  profiles.push({ name: "sigframe-profile", bytes: sp, spots: textSpots(sp.toString()) });
  if (existsSync(CORPUS_FILE)) {
    const corpus = new Uint8Array(readFileSync(CORPUS_FILE));
    profiles.push({ name: "corpus", bytes: corpus, spots: textSpots(Buffer.from(corpus).toString()) });
    const text = cpuidRText(JSON.parse(Buffer.from(corpus).toString()));
    profiles.push({ name: "cpuid-r", bytes: new Uint8Array(Buffer.from(text)), spots: textSpots(text) });
  }
  if (existsSync(CRIU_S2)) {
    const ci = new Uint8Array(readFileSync(join(CRIU_S2, "cpuinfo.img")));
    profiles.push({ name: "cpuinfo.img", bytes: ci, spots: criuSpots(ci) });
  }
});

/** Runs one command that reads PROFILE `p`; `frame` is a valid frame for the commands that need one. */
async function withProfile(cmd: string, p: string): Promise<void> {
  const frame = join(tmp, "kernel.bin");
  const ex: Expect = { input: p };
  switch (cmd) {
    case "layout":
      await cli(["layout", p, "--json"], ex);
      break;
    case "layout-save": {
      const out = fresh("saved.json");
      await cli(["layout", p, "--save-profile", out], { ...ex, output: out });
      break;
    }
    case "diff":
      await cli(["diff", p, "amd-zen4", "--json"], ex);
      break;
    case "check-from":
      await cli(["check", "--from", p, "--to", "amd-zen4", "--json"], ex);
      break;
    case "check-to":
      await cli(["check", "--from", "amd-zen4", "--to", p], ex);
      break;
    case "baseline":
      await cli(["baseline", p, "amd-zen4", "--json"], ex);
      break;
    case "matrix":
      await cli(["matrix", "amd-zen4", p, "--csv"], ex);
      break;
    case "predict":
      await cli(["predict", frame, "--cpu", p, "--policy", "refined", "--json"], ex);
      break;
    case "inspect":
      await cli(["inspect", frame, "--cpu", p, "--json"], ex);
      break;
    case "build": {
      const out = fresh("built.bin");
      await cli(["build", "--cpu", p, "-o", out], { ...ex, output: out });
      break;
    }
    case "translate": {
      const out = fresh("translated.bin");
      // A profile without XSAVE is valid, and translate refuses it as a destination by option.
      await cli(["translate", frame, "--from", "amd-zen4", "--to", p, "-o", out], {
        input: [p, "--to"],
        output: out,
      });
      break;
    }
  }
}

const PROFILE_COMMANDS = [
  "layout",
  "layout-save",
  "diff",
  "check-from",
  "check-to",
  "baseline",
  "matrix",
  "predict",
  "inspect",
  "build",
  "translate",
];

describe("hostile PROFILE files", () => {
  test("truncated at every interesting offset (layout)", async () => {
    for (const k of profiles) {
      const spots = [...new Set(k.spots)];
      // Text profiles have many line starts: every one for the binary image, a spread for text.
      const pick =
        spots.length > 120 ? spots.filter((_, i) => i % Math.ceil(spots.length / 120) === 0) : spots;
      for (const at of pick) {
        const p = mutatedFile(k.bytes, [{ kind: "truncate", at }], `${k.name}-t${at}`);
        await cli(["layout", p, "--json"], { input: p });
      }
    }
  });

  test("seeded byte mutations through every command that takes a PROFILE", async () => {
    for (const k of profiles) {
      const arb = fc.record({
        ms: mutationsArb(k.bytes.length, k.spots),
        cmd: fc.constantFrom(...PROFILE_COMMANDS),
      });
      await property(`profile ${k.name}`, arb, runs(40), async ({ ms, cmd }) => {
        const p = mutatedFile(k.bytes, ms, `${k.name}.prof`);
        try {
          await withProfile(cmd, p);
        } catch (e) {
          throw new Error(`${k.name} ${cmd} with ${describeMutations(ms)}: ${(e as Error).message}`);
        }
      });
    }
  });

  test("seeded JSON-aware mutations of sigframe-profile and cpuid-corpus documents", async () => {
    for (const k of profiles.filter((x) => x.name === "sigframe-profile" || x.name === "corpus")) {
      const doc = JSON.parse(Buffer.from(k.bytes).toString());
      const arb = fc.record({
        ms: jsonMutationArb(doc),
        cmd: fc.constantFrom("layout", "check-from", "predict", "matrix"),
      });
      await property(`profile json ${k.name}`, arb, runs(60), async ({ ms, cmd }) => {
        const p = fresh(`${k.name}.json`);
        writeFileSync(p, JSON.stringify(applyJsonMutations(doc, ms)));
        try {
          await withProfile(cmd, p);
        } catch (e) {
          throw new Error(`${k.name} ${cmd} with ${JSON.stringify(ms)}: ${(e as Error).message}`);
        }
      });
    }
  });

  test("matrix and baseline over a folder with bad files in it", HAVE_CORPUS, async () => {
    const dir = fresh("fleet");
    mkdirSync(dir);
    symlinkSync(CORPUS_FILE, join(dir, "good.json"));
    writeFileSync(join(dir, "bad.json"), '{"format": "sigframe-profile/1", "cpuid": [');
    writeFileSync(join(dir, "garbage.img"), new Uint8Array(64).fill(0xff));
    writeFileSync(join(dir, "empty.txt"), "");
    const m = await cli(["matrix", dir, "--json"]);
    assert.equal(m.code, 0, m.err);
    assert.equal(m.err.split("\n").filter((l) => l.includes("skipped")).length, 3, m.err);
    assert.equal((await cli(["baseline", dir, "--json"])).code, 0);
    // Only bad files: the one error line (the skipped files are warnings) and exit 2.
    rmSync(join(dir, "good.json"));
    const only = await cli(["matrix", dir]);
    assert.equal(only.code, 2);
  });
});

// ---------------------------------------------------------------------------------------------
// STATE.json for build.

describe("hostile STATE.json", () => {
  const doc = {
    rip: "0x401000",
    rsp: "0x7ffffffde100",
    rax: "0x1",
    mxcsr: "0x1f80",
    st0: "0x3fff8000000000000000",
    xmm1: "0x11",
    ymm3: "0x1234",
    k1: "0xff",
    zmm17: `0x${"ab".repeat(64)}`,
    pkru: "0x55555554",
  };
  const bytes = new Uint8Array(Buffer.from(JSON.stringify(doc, null, 1)));

  test("seeded JSON-aware and byte mutations", async () => {
    const arb = fc.record({
      json: fc.option(jsonMutationArb(doc), { nil: undefined }),
      ms: mutationsArb(bytes.length, textSpots(Buffer.from(bytes).toString())),
      style: fc.constantFrom("kernel", "criu", "pwntools"),
    });
    await property("state", arb, runs(60), async ({ json, ms, style }) => {
      const st = fresh("state.json");
      if (json) writeFileSync(st, JSON.stringify(applyJsonMutations(doc, json)));
      else writeFileSync(st, applyMutations(bytes, ms));
      const out = fresh("built.bin");
      await cli(["build", "--cpu", "amd-zen4", "--style", style, "--state", st, "-o", out], {
        input: st,
        output: out,
      });
    });
  });

  test("prototype names, values wider than the register, non-finite numbers are refused", async () => {
    const cases: [string | Record<string, unknown>, number][] = [
      ['{"__proto__": {"rip": "0x1"}}', 2],
      [{ constructor: "0x1" }, 2],
      [{ toString: "0x1" }, 2],
      [{ rip: `0x${"f".repeat(100000)}` }, 2],
      [{ zmm0: "0x1".padEnd(200, "0") }, 2],
      ['{"rip": 1e400}', 2],
      ['{"rip": "0x1", "rip": "0x2"}', 0],
    ];
    for (const [bad, code] of cases) {
      const st = fresh("state.json");
      writeFileSync(st, typeof bad === "string" ? bad : JSON.stringify(bad));
      const out = fresh("built.bin");
      const r = await cli(["build", "--cpu", "amd-zen4", "--state", st, "-o", out], {
        input: st,
        output: out,
      });
      assert.equal(r.code, code, `${JSON.stringify(bad).slice(0, 80)}: ${r.err}`);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// CRIU images for `criu show`.

describe("hostile CRIU images (criu show)", HAVE_FIXTURES, () => {
  test("every image type: truncated at each entry boundary and seeded mutations", async () => {
    const files = readdirSync(CRIU_S2).filter((f) => f.endsWith(".img") && !f.startsWith("pages-"));
    files.push("stats-dump");
    for (const name of files) {
      const bytes = new Uint8Array(readFileSync(join(CRIU_S2, name)));
      const spots = criuSpots(bytes);
      for (const at of new Set(spots)) {
        const p = mutatedFile(bytes, [{ kind: "truncate", at }], `t-${name}`);
        await cli(["criu", "show", p, "--json"], { input: p });
      }
      const arb = fc.record({ ms: mutationsArb(bytes.length, spots), json: fc.boolean() });
      await property(`criu show ${name}`, arb, runs(14), async ({ ms, json }) => {
        const p = mutatedFile(bytes, ms, name);
        try {
          await cli(["criu", "show", p, ...(json ? ["--json"] : [])], { input: p });
        } catch (e) {
          throw new Error(`${name} with ${describeMutations(ms)}: ${(e as Error).message}`);
        }
      });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// CRIU checkpoint directories for scan and check --checkpoint.

/** A copy of the S2 checkpoint in a fresh folder (the pages file linked, not copied). */
function checkpointCopy(): string {
  const dir = fresh("checkpoint");
  mkdirSync(dir);
  for (const f of readdirSync(CRIU_S2)) {
    if (f === "logs") continue;
    if (f.startsWith("pages-")) symlinkSync(join(CRIU_S2, f), join(dir, f));
    else copyFileSync(join(CRIU_S2, f), join(dir, f));
  }
  return dir;
}

/** A CRIU image file of `magic` holding these entry payloads. */
function image(magic: string, payloads: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(8 + payloads.reduce((n, p) => n + 4 + p.length, 0));
  const dv = new DataView(out.buffer);
  dv.setUint32(0, IMG_COMMON_MAGIC, true);
  dv.setUint32(4, IMAGE_MAGICS[magic]!, true);
  let o = 8;
  for (const p of payloads) {
    dv.setUint32(o, p.length, true);
    out.set(p, o + 4);
    o += 4 + p.length;
  }
  return out;
}

async function scanAndCheck(dir: string, input = dir): Promise<void> {
  await cli(["scan", dir, "--json"], { input });
  await cli(["check", "--checkpoint", dir, "--to", "amd-zen4", "--json"], { input });
}

describe("hostile CRIU checkpoints (scan, check --checkpoint)", HAVE_FIXTURES, () => {
  const imgs = existsSync(CRIU_S2)
    ? readdirSync(CRIU_S2).filter((f) => /^(core|mm|pagemap|pstree|cpuinfo|files)/.test(f))
    : [];

  test("each image missing in turn", async () => {
    for (const name of [...imgs, "pages-1.img"]) {
      const dir = checkpointCopy();
      rmSync(join(dir, name));
      await scanAndCheck(dir);
    }
  });

  test("seeded mutations of one image at a time", async () => {
    const arb = fc.constantFrom(...imgs).chain((name) => {
      const bytes = new Uint8Array(readFileSync(join(CRIU_S2, name)));
      return fc.record({ name: fc.constant(name), ms: mutationsArb(bytes.length, criuSpots(bytes)) });
    });
    await property("checkpoint", arb, runs(60), async ({ name, ms }) => {
      const dir = checkpointCopy();
      const bytes = new Uint8Array(readFileSync(join(CRIU_S2, name)));
      writeFileSync(join(dir, name), applyMutations(bytes, ms));
      try {
        await scanAndCheck(dir);
      } catch (e) {
        throw new Error(`${name} with ${describeMutations(ms)}: ${(e as Error).message}`);
      }
    });
  });

  test("a truncated pages file, and one replaced by a directory", async () => {
    for (const n of [0, 1, 4096, 65536]) {
      const dir = checkpointCopy();
      rmSync(join(dir, "pages-1.img"));
      writeFileSync(join(dir, "pages-1.img"), readFileSync(join(CRIU_S2, "pages-1.img")).subarray(0, n));
      await scanAndCheck(dir);
    }
    const dir = checkpointCopy();
    rmSync(join(dir, "pages-1.img"));
    mkdirSync(join(dir, "pages-1.img"));
    await scanAndCheck(dir);
  });

  test("crafted: pagemap past the pages, huge nr_pages, absurd VMAs, pstree loops", async () => {
    const pid = Number(
      readdirSync(CRIU_S2)
        .find((f) => f.startsWith("core-"))!
        .slice(5, -4),
    );
    const pm = (entries: { vaddr: bigint; nrPages: bigint; flags: number }[], pagesId = 1) =>
      image("PAGEMAP", [
        toBinary(pagemap_headSchema, create(pagemap_headSchema, { pagesId })),
        ...entries.map((e) =>
          toBinary(pagemap_entrySchema, create(pagemap_entrySchema, { ...e, compatNrPages: 0 })),
        ),
      ]);
    const pagemaps = [
      pm([{ vaddr: 0x7f0000000000n, nrPages: 1n << 35n, flags: 4 }]),
      pm([{ vaddr: 0x7f0000000000n, nrPages: 1n << 35n, flags: 1 }]),
      pm([{ vaddr: 0x7f0000000000n, nrPages: 1n << 35n, flags: 2 }]),
      pm([{ vaddr: 0xfffffffffffff000n, nrPages: 1n, flags: 4 }]),
      pm([{ vaddr: 0xfffffffffffff000n, nrPages: 2n, flags: 1 }]),
      pm([{ vaddr: 0x1000n, nrPages: 0xffffffffffffffffn, flags: 4 }]),
      pm([{ vaddr: 0x1000n, nrPages: 40n, flags: 4 }]),
      pm([
        { vaddr: 0x1000n, nrPages: 2n, flags: 4 },
        { vaddr: 0x1000n, nrPages: 2n, flags: 4 },
      ]),
      pm([{ vaddr: 0x1001n, nrPages: 1n, flags: 4 }]),
      pm([{ vaddr: 0x1000n, nrPages: 1n, flags: 4 }], 0xffffffff),
      pm([]),
    ];
    for (const bytes of pagemaps) {
      const dir = checkpointCopy();
      writeFileSync(join(dir, `pagemap-${pid}.img`), bytes);
      await scanAndCheck(dir);
    }
    // mm with absurd VMAs: inverted, zero-length, the whole address space, a million of them.
    const mm = decodeMm(new Uint8Array(readFileSync(join(CRIU_S2, `mm-${pid}.img`))));
    const vma = (start: bigint, end: bigint) =>
      create(vma_entrySchema, {
        start,
        end,
        pgoff: 0n,
        shmid: 0n,
        prot: 3,
        flags: 0x22,
        status: 0x23,
        fd: -1n,
      });
    const vmaSets = [
      [vma(0x7fff00000000n, 0x1000n)],
      [vma(0x1000n, 0x1000n)],
      [vma(0n, 0xffffffffffffffffn)],
      [vma(0n, 0xffffffffffffffffn), vma(0n, 0xffffffffffffffffn)],
      Array.from({ length: 20000 }, (_, i) => vma(BigInt(i) << 12n, (BigInt(i) + 1n) << 12n)),
    ];
    for (const vmas of vmaSets) {
      const dir = checkpointCopy();
      const m = create(mm_entrySchema, { ...mm, vmas });
      writeFileSync(join(dir, `mm-${pid}.img`), image("MM", [toBinary(mm_entrySchema, m)]));
      await scanAndCheck(dir);
    }
    // pstree: a process that is its own parent, the same pid twice, a thread list of a thousand tids.
    const ps = (entries: { pid: number; ppid: number; threads: number[] }[]) =>
      image(
        "PSTREE",
        entries.map((e) =>
          toBinary(pstree_entrySchema, create(pstree_entrySchema, { ...e, pgid: e.pid, sid: e.pid })),
        ),
      );
    const trees = [
      ps([{ pid, ppid: pid, threads: [pid] }]),
      ps([
        { pid, ppid: 0, threads: [pid] },
        { pid, ppid: pid, threads: [pid] },
      ]),
      ps([{ pid, ppid: 0, threads: [pid, pid, pid] }]),
      ps([{ pid, ppid: 0, threads: Array.from({ length: 1000 }, (_, i) => pid + i) }]),
      ps([{ pid: 0, ppid: 0, threads: [] }]),
      ps([{ pid: 0xffffffff, ppid: 0xffffffff, threads: [0xffffffff] }]),
      ps([]),
    ];
    for (const bytes of trees) {
      const dir = checkpointCopy();
      writeFileSync(join(dir, "pstree.img"), bytes);
      await scanAndCheck(dir);
    }
    // core: a thread whose sp and altstack sit at the edges of the address space.
    const core = decodeCore(new Uint8Array(readFileSync(join(CRIU_S2, `core-${pid}.img`))));
    for (const sp of [0n, 0xffffffffffffffffn, 0xfffffffffffffff0n]) {
      const c = create(core_entrySchema, core);
      if (c.threadInfo?.gpregs) c.threadInfo.gpregs.sp = sp;
      if (c.threadCore)
        c.threadCore.sas = create(thread_sas_entrySchema, {
          ssSp: sp,
          ssSize: 0xffffffffffffffffn,
          ssFlags: 0,
        });
      const dir = checkpointCopy();
      writeFileSync(join(dir, `core-${pid}.img`), image("CORE", [toBinary(core_entrySchema, c)]));
      await scanAndCheck(dir);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// ELF cores for scan, check --core, and as PROFILE.

describe("hostile ELF cores: scan, check --core, layout", HAVE_FIXTURES, () => {
  const cores = existsSync(CORE_DIR) ? ["S2.kernel.core", "S3.core"] : [];

  test("truncated at every header, program header and note boundary", async () => {
    for (const name of cores) {
      const bytes = new Uint8Array(readFileSync(join(CORE_DIR, name)));
      for (const at of new Set(elfSpots(bytes))) {
        const p = mutatedFile(bytes, [{ kind: "truncate", at }], `t-${name}`);
        await cli(["scan", p, "--json"], { input: p });
      }
    }
  });

  test("seeded mutations: scan, check --core, layout", async () => {
    for (const name of cores) {
      const bytes = new Uint8Array(readFileSync(join(CORE_DIR, name)));
      const spots = elfSpots(bytes);
      const arb = fc.record({
        ms: mutationsArb(bytes.length, spots),
        cmd: fc.constantFrom("scan", "scan-all", "check", "layout"),
      });
      await property(`elf ${name}`, arb, runs(40), async ({ ms, cmd }) => {
        const p = mutatedFile(bytes, ms, name);
        try {
          if (cmd === "scan") await cli(["scan", p, "--json"], { input: p });
          else if (cmd === "scan-all") await cli(["scan", p, "--all"], { input: p });
          else if (cmd === "check")
            await cli(["check", "--core", p, "--to", "amd-zen4", "--json"], { input: p });
          else await cli(["layout", p, "--json"], { input: p });
        } catch (e) {
          throw new Error(`${name} ${cmd} with ${describeMutations(ms)}: ${(e as Error).message}`);
        }
      });
    }
  });

  test("crafted: overlapping PT_LOADs, segments past EOF, a note claiming 4 GiB", async () => {
    const notes = [
      { owner: "CORE", type: NT_PRSTATUS, desc: prstatus(100, 0x7000_0100n) },
      { owner: "LINUX", type: NT_X86_XSTATE, desc: xstate(832, 0x7n) },
    ];
    const page = new Uint8Array(4096).fill(0xab);
    const variants: Uint8Array[] = [
      buildCore(notes, [
        { vaddr: 0x7000_0000n, data: page },
        { vaddr: 0x7000_0800n, data: page },
      ]),
      buildCore(notes, [{ vaddr: 0xffff_ffff_ffff_f000n, data: page, memsz: 0x2000n }]),
      buildCore(notes, [{ vaddr: 0x7000_0000n, data: page, memsz: 1n << 62n }]),
    ];
    for (const v of variants) {
      const p = fresh("crafted.core");
      writeFileSync(p, v);
      await cli(["scan", p, "--json"], { input: p });
      await cli(["check", "--core", p, "--to", "amd-zen4"], { input: p });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Raw images for scan --base.

describe("hostile raw memory images (scan --base)", () => {
  test("frames and random bytes at every base, with --sp and --altstack", async () => {
    const kernel = frames[0]!.bytes;
    const arb = fc.record({
      ms: mutationsArb(kernel.length, frames[0]!.spots),
      base: fc.constantFrom("0x7ffffffde000", "0", "0xfffffffffffff000", "0xffffffffffffffff", "0x1"),
      sp: fc.constantFrom(undefined, "0x7ffffffde008", "0", "0xffffffffffffffff"),
      alt: fc.constantFrom(
        undefined,
        "0x7ffffffde000:0x10000",
        "0xffffffffffffffff:0xffffffffffffffff",
        "0:0",
        "1:2:3",
      ),
      all: fc.boolean(),
    });
    await property("raw", arb, runs(50), async ({ ms, base, sp, alt, all }) => {
      const p = mutatedFile(kernel, ms, "raw.bin");
      const args = ["scan", p, "--base", base, "--json"];
      if (sp !== undefined) args.push("--sp", sp);
      if (alt !== undefined) args.push("--altstack", alt);
      if (all) args.push("--all");
      await cli(args);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Option values.

describe("hostile option values", () => {
  const BAD = [
    "-1",
    "18446744073709551616",
    "0x10000000000000000",
    "abc",
    "",
    " ",
    "0x",
    "1e999",
    "NaN",
    "Infinity",
    "--json",
  ];
  test("every numeric option with negative, 2^64, non-numeric and empty values", async () => {
    const frame = join(tmp, "kernel.bin");
    for (const v of BAD) {
      const runsOf: string[][] = [
        ["layout", "amd-zen4", "--xcr0", v],
        ["layout", "amd-zen4", "--kernel", v],
        ["layout", "amd-zen4", "--cpu-index", v],
        ["diff", "amd-zen4", "amd-zen3", "--kernel", v],
        ["predict", frame, "--cpu", "amd-zen4", "--kernel", v],
        ["predict", frame, "--cpu", "amd-zen4", "--policy", v],
        ["predict", frame, "--cpu", "amd-zen4", "--policy", "classic", "--base", v],
        ["check", "--from", "amd-zen4", "--to", "amd-zen3", "--uses", v],
        ["check", "--from", "amd-zen4", "--to", "amd-zen3", "--restorer", v],
        ["matrix", "amd-zen4", "amd-zen3", "--kernel", v],
        ["build", "--cpu", "amd-zen4", "--pwntools-variant", v, "-o", fresh("o.bin")],
        ["build", "--cpu", "amd-zen4", "--style", v, "-o", fresh("o.bin")],
        ["build", "--cpu", "amd-zen4", "--base", v, "-o", fresh("o.bin")],
        ["translate", frame, "--from", "amd-zen4", "--to", "amd-zen3", "--style", v, "-o", fresh("o.bin")],
        ["inspect", frame, "--frame", "--fpstate-only", "--ucontext"],
        ["predict", frame, "--cpu", "amd-zen4", "--policy", "classic", "--frame", "--ucontext"],
        ["scan", frame, "--base", "0x1000", "--sp", v],
        ["scan", frame, "--base", "0x1000", "--altstack", v],
        ["layout", v],
        ["inspect", v],
        ["criu", "show", v],
        ["scan", v],
      ];
      for (const a of runsOf) {
        const o = a.indexOf("-o");
        await cli(a, o >= 0 ? { output: a[o + 1]! } : {});
      }
    }
  });

  test("files that are directories, empty, or not there", async () => {
    const dir = fresh("a-dir");
    mkdirSync(dir);
    const empty = fresh("empty");
    writeFileSync(empty, "");
    for (const p of [dir, empty, join(tmp, "no-such-file")]) {
      await cli(["layout", p], { input: p });
      await cli(["inspect", p], { input: p });
      await cli(["predict", p, "--cpu", "amd-zen4", "--policy", "classic"], { input: p });
      await cli(["criu", "show", p], { input: p });
      await cli(["scan", p], { input: p });
      await cli(["check", "--core", p, "--to", "amd-zen4"], { input: p });
      await cli(["build", "--cpu", "amd-zen4", "--state", p, "-o", fresh("o.bin")], { input: p });
    }
    // An output file in a folder that does not exist: exit 2, nothing written.
    const out = join(tmp, "no-such-dir", "o.bin");
    await cli(["build", "--cpu", "amd-zen4", "-o", out], { output: out, input: out });
  });
});

// ---------------------------------------------------------------------------------------------
// stdin (`-`): a real process, since stdin is the process's.

describe("stdin", () => {
  test("empty, truncated and garbage input on stdin", () => {
    const kernel = frames[0]!.bytes;
    const cases: [string[], Uint8Array][] = [
      [["inspect", "-"], new Uint8Array(0)],
      [["predict", "-", "--cpu", "amd-zen4", "--policy", "classic"], kernel.subarray(0, 700)],
      [["layout", "-"], new Uint8Array(300).fill(0x07)],
      [["criu", "show", "-"], kernel.subarray(0, 100)],
      [["scan", "-"], kernel],
    ];
    for (const [args, input] of cases) {
      const r = spawnSync(process.execPath, [bundledCli(), ...args], {
        input,
        encoding: "utf8",
        timeout: 20_000,
        cwd: REPO_ROOT,
      });
      const what = `${args.join(" ")}: exit ${r.status}, stderr ${r.stderr}`;
      assert.equal(r.status, 2, what);
      assert.equal(r.stdout, "", what);
      const lines = r.stderr.split("\n").filter(Boolean);
      assert.equal(lines.length, 1, what);
      assert.match(lines[0]!, /^sigframe: -(:[^:]+)*: \S/, what);
    }
  });
});
