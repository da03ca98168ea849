/**
 * The parser families under the campaign: for each, its seed inputs (built here, plus the shared
 * fixtures and CPUID corpus where ../shared is present), the format that picks its mutators, and
 * the commands an input is run through (in-process, as a user would run them).
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseElfCore } from "../src/core/elf/core.ts";
import { PT_LOAD } from "../src/core/elf/format.ts";
import { builtinProfile } from "../src/core/profiles/detect.ts";
import { bytesSource } from "../src/core/source.ts";
import { packageRoot } from "../src/node/package-root.ts";
import {
  BUILTIN_NAMES,
  checkpointArchive,
  checkpointFiles,
  compressedForms,
  corpusJsonBytes,
  cpuidRBytes,
  dumpLog,
  frameCore,
  frameSeeds,
  gzip,
  liveStack,
  lz4Stored,
  profileJsonBytes,
  STACK,
  stateSeeds,
  tarOf,
  zstdStored,
} from "./seeds.ts";

export type Format = "json" | "cpuid" | "criu" | "elf" | "frame" | "raw" | "archive" | "bytes";

export interface Seed {
  label: string;
  /** The case's files; a command's `$IN` is `main` (a file), or the case folder when undefined. */
  files: Map<string, Uint8Array>;
  main?: string;
  /** Files a mutation may change, with their format. */
  mutable: [name: string, format: Format][];
  /** Argument lists; `$IN` and `$OUT` are replaced by the case's paths. */
  commands: string[][];
  /** How often this seed is picked, relative to others (small generated inputs run faster). */
  weight: number;
  /**
   * Applied to a file's bytes when it is written: mutations work on the inner structure (a core's
   * program headers, a tar's members), the command reads it compressed.
   */
  wrap?: (b: Uint8Array) => Uint8Array;
}

export interface Family {
  name: string;
  summary: string;
  seeds(): Seed[];
}

/** The repository (found from this module, whether it runs from fuzz/ or from the worker bundle). */
export const REPO_ROOT = packageRoot();
export const SHARED = resolve(REPO_ROOT, "..", "shared");
const CORPUS = join(SHARED, "cpuid-corpus");
const FIXTURES = join(SHARED, "fixtures");

function one(
  label: string,
  name: string,
  bytes: Uint8Array,
  format: Format,
  commands: string[][],
  weight = 3,
): Seed {
  return { label, files: new Map([[name, bytes]]), main: name, mutable: [[name, format]], commands, weight };
}

/** Every n-th file of a folder, sorted (a spread of the corpus, bounded). */
function sample(dir: string, filter: (f: string) => boolean, max: number): string[] {
  if (!existsSync(dir)) return [];
  const all = readdirSync(dir).filter(filter).sort();
  const step = Math.max(1, Math.floor(all.length / max));
  return all.filter((_, i) => i % step === 0).slice(0, max);
}

interface CorpusDoc {
  leaves: { leaf: string; subleaf: string; eax: string; ebx: string; ecx: string; edx: string }[];
}

function corpusFiles(max: number): { name: string; bytes: Uint8Array }[] {
  const out: { name: string; bytes: Uint8Array }[] = [];
  for (const sub of ["", "flagged"]) {
    const dir = join(CORPUS, sub);
    for (const f of sample(dir, (f) => f.endsWith(".json") && f !== "index.json" && !f.includes("log"), max))
      out.push({ name: `${sub ? `${sub}-` : ""}${f}`, bytes: readFileSync(join(dir, f)) });
  }
  return out;
}

const PROFILE_COMMANDS = [
  ["layout", "$IN", "--json"],
  ["layout", "$IN", "--svg"],
  ["check", "--from", "$IN", "--to", "amd-zen4", "--json"],
  ["check", "--from", "intel-sapphirerapids", "--to", "$IN", "--json"],
  ["check", "--from", "$IN", "--to", "intel-haswell", "--kernel", "6.15"],
  ["matrix", "$IN", "intel-skylake-server", "--json"],
  ["diff", "$IN", "amd-zen4", "--json"],
  ["baseline", "$IN", "amd-zen2", "--json"],
  ["build", "--cpu", "$IN", "-o", "$OUT"],
  ["build", "--cpu", "$IN", "--style", "criu", "--amx", "-o", "$OUT"],
];

const profileJson: Family = {
  name: "profile-json",
  summary:
    "sigframe-profile/1 and cpuid-corpus JSON as PROFILE (layout, check, matrix, diff, baseline, build)",
  seeds() {
    const out: Seed[] = [];
    for (const name of BUILTIN_NAMES) {
      const p = builtinProfile(name);
      out.push(
        one(`${name} (sigframe-profile/1)`, "profile.json", profileJsonBytes(p), "json", PROFILE_COMMANDS),
      );
      out.push(
        one(`${name} (corpus schema)`, "corpus.json", corpusJsonBytes(p), "json", PROFILE_COMMANDS, 1),
      );
    }
    for (const f of corpusFiles(16))
      out.push(one(`corpus ${f.name}`, f.name, f.bytes, "json", PROFILE_COMMANDS, 1));
    return out;
  },
};

const cpuidR: Family = {
  name: "cpuid-r",
  summary: "`cpuid -r` text as PROFILE (one or many CPU blocks)",
  seeds() {
    const out: Seed[] = [];
    for (const name of BUILTIN_NAMES) {
      const leaves = builtinProfile(name).cpuid.leaves;
      out.push(one(`${name} -1`, "cpuid.txt", cpuidRBytes(leaves), "cpuid", PROFILE_COMMANDS));
      if (name === "amd-zen4" || name === "intel-sapphirerapids")
        out.push(one(`${name} ×4 CPUs`, "cpuid.txt", cpuidRBytes(leaves, 4), "cpuid", PROFILE_COMMANDS, 1));
    }
    for (const f of corpusFiles(10)) {
      const doc = JSON.parse(new TextDecoder().decode(f.bytes)) as CorpusDoc;
      const leaves = doc.leaves.map((l) => ({
        leaf: Number.parseInt(l.leaf, 16),
        subleaf: Number.parseInt(l.subleaf, 16),
        eax: Number.parseInt(l.eax, 16),
        ebx: Number.parseInt(l.ebx, 16),
        ecx: Number.parseInt(l.ecx, 16),
        edx: Number.parseInt(l.edx, 16),
      }));
      out.push(one(`corpus ${f.name}`, "cpuid.txt", cpuidRBytes(leaves), "cpuid", PROFILE_COMMANDS, 1));
    }
    return out;
  },
};

/** The shared fixtures' checkpoint folders, images read in place (logs left out). */
function fixtureCheckpoints(): { label: string; files: Map<string, Uint8Array> }[] {
  const dir = join(FIXTURES, "criu");
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .map((s) => {
      const files = new Map<string, Uint8Array>();
      for (const f of readdirSync(join(dir, s)).sort()) {
        const p = join(dir, s, f);
        if (statSync(p).isFile()) files.set(f, readFileSync(p));
      }
      return { label: `fixture ${s}`, files };
    });
}

const criuImage: Family = {
  name: "criu-image",
  summary: "single CRIU images: criu show (every decoded type), cpuinfo.img as PROFILE",
  seeds() {
    const out: Seed[] = [];
    const cmds = (name: string) => {
      const c = [
        ["criu", "show", "$IN", "--json"],
        ["criu", "show", "$IN"],
      ];
      if (name === "cpuinfo.img")
        c.push(["layout", "$IN", "--json"], ["check", "--from", "$IN", "--to", "amd-zen4", "--json"]);
      return c;
    };
    for (const cpu of ["amd-zen4", "intel-sapphirerapids"]) {
      for (const [name, bytes] of checkpointFiles(cpu))
        if (!name.startsWith("pages-")) out.push(one(`${cpu} ${name}`, name, bytes, "criu", cmds(name)));
    }
    for (const cp of fixtureCheckpoints())
      for (const [name, bytes] of cp.files) {
        if (name.startsWith("pages-")) continue;
        const base = name.replace(/-\d+\.img$/, ".img");
        out.push(one(`${cp.label} ${name}`, base, bytes, "criu", cmds(base), 1));
      }
    return out;
  },
};

const CHECKPOINT_COMMANDS = [
  ["scan", "$IN", "--json"],
  ["scan", "$IN", "--all", "--json"],
  ["scan", "$IN"],
  ["check", "--checkpoint", "$IN", "--to", "intel-sapphirerapids", "--json"],
  ["check", "--checkpoint", "$IN", "--to", "amd-zen2"],
];

function checkpointSeed(label: string, files: Map<string, Uint8Array>, weight: number): Seed {
  const mutable: [string, Format][] = [...files.keys()]
    .filter((n) => n.endsWith(".img") || n === "stats-dump")
    .map((n) => [n, n.startsWith("pages-") ? "raw" : "criu"]);
  return { label, files, mutable, commands: CHECKPOINT_COMMANDS, weight };
}

const checkpoint: Family = {
  name: "checkpoint",
  summary: "CRIU checkpoint folders: scan, check --checkpoint (one image mutated at a time)",
  seeds() {
    const out: Seed[] = [];
    for (const cpu of ["amd-zen4", "intel-sapphirerapids"])
      out.push(checkpointSeed(`generated ${cpu}`, checkpointFiles(cpu), 3));
    for (const cp of fixtureCheckpoints()) out.push(checkpointSeed(cp.label, cp.files, 1));
    return out;
  },
};

const CORE_COMMANDS = [
  ["scan", "$IN", "--json"],
  ["scan", "$IN", "--all"],
  ["check", "--core", "$IN", "--to", "intel-sapphirerapids", "--json"],
  ["check", "--core", "$IN", "--to", "amd-zen2"],
  ["layout", "$IN", "--json"],
];

function fixtureCores(): { name: string; bytes: Uint8Array }[] {
  const dir = join(FIXTURES, "core");
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".core"))
    .sort()
    .map((f) => ({ name: f, bytes: readFileSync(join(dir, f)) }));
}

const elfCore: Family = {
  name: "elf-core",
  summary: "ELF cores (gcore and kernel-written): scan, check --core, layout",
  seeds() {
    // Generated cores are small (fast to run); the fixtures are real ones of 0.5–1.3 MB.
    const out: Seed[] = [
      one("generated amd-zen4", "frame.core", frameCore("amd-zen4"), "elf", CORE_COMMANDS, 5),
      one(
        "generated intel-sapphirerapids AMX",
        "frame.core",
        frameCore("intel-sapphirerapids", true),
        "elf",
        CORE_COMMANDS,
        5,
      ),
      one("generated intel-haswell", "frame.core", frameCore("intel-haswell"), "elf", CORE_COMMANDS, 5),
    ];
    for (const c of fixtureCores())
      out.push(one(`fixture ${c.name}`, c.name, c.bytes, "elf", CORE_COMMANDS, 1));
    return out;
  },
};

const hex = (v: bigint) => `0x${v.toString(16)}`;

function rawCommands(base: bigint, sp?: bigint): string[][] {
  const c = [
    ["scan", "$IN", "--base", hex(base), "--json"],
    ["scan", "$IN", "--base", hex(base), "--all", "--json"],
  ];
  if (sp !== undefined) {
    c.push(["scan", "$IN", "--base", hex(base), "--sp", hex(sp), "--json"]);
    c.push(["scan", "$IN", "--base", hex(base), "--sp", hex(sp), "--altstack", `${hex(base)}:0x4000`]);
  }
  return c;
}

const rawImage: Family = {
  name: "raw-image",
  summary: "raw memory images (a stack with frames at a base address): scan --base [--sp --altstack]",
  seeds() {
    const out: Seed[] = [];
    for (const cpu of ["amd-zen4", "intel-sapphirerapids", "intel-haswell"]) {
      const s = liveStack(cpu);
      out.push(one(`generated ${cpu} stack`, "stack.raw", s.stack, "raw", rawCommands(STACK, s.frame)));
    }
    for (const c of fixtureCores().filter((c) => !c.name.includes("kernel"))) {
      // The segment that holds the first thread's sp: its stack.
      const core = parseElfCore(bytesSource(c.bytes));
      const sp = core.threads[0]?.regs.rsp;
      const seg = core.programHeaders.find(
        (p) =>
          p.type === PT_LOAD && sp !== undefined && sp >= p.vaddr && sp < p.vaddr + p.memsz && p.filesz > 0,
      );
      if (!seg || sp === undefined) continue;
      const bytes = c.bytes.slice(seg.offset, seg.offset + seg.filesz);
      out.push(one(`fixture ${c.name} stack`, "stack.raw", bytes, "raw", rawCommands(seg.vaddr, sp), 1));
    }
    return out;
  },
};

function frameCommands(cpu: string): string[][] {
  return [
    ["inspect", "$IN", "--cpu", cpu, "--json"],
    ["inspect", "$IN", "--hexdump"],
    ["inspect", "$IN", "--svg", "--cpu", cpu],
    ["inspect", "$IN", "--frame", "--cpu", cpu, "--json"],
    ["inspect", "$IN", "--fpstate-only", "--json"],
    ["inspect", "$IN", "--as", "ia32-frame", "--json"],
    ["inspect", "$IN", "--ucontext", "--cpu", cpu],
    ["predict", "$IN", "--cpu", cpu, "--all-policies", "--json"],
    [
      "predict",
      "$IN",
      "--cpu",
      "intel-sapphirerapids",
      "--amx",
      "--policy",
      "refined",
      "--readable-bytes",
      "4096",
    ],
    ["predict", "$IN", "--ia32", "--cpu", cpu, "--policy", "classic", "--json"],
    ["translate", "$IN", "--from", cpu, "--to", "intel-sapphirerapids", "-o", "$OUT"],
    ["translate", "$IN", "--from", cpu, "--to", "amd-zen2", "--style", "criu", "-o", "$OUT"],
  ];
}

const frame: Family = {
  name: "frame",
  summary:
    "signal frames of every style (kernel, CRIU, pwntools, FPU area, ia32): inspect, predict, translate",
  seeds() {
    const out: Seed[] = frameSeeds().map((f) =>
      one(f.name, "frame.bin", f.bytes, "frame", frameCommands(f.cpu)),
    );
    const truth = join(FIXTURES, "truth");
    if (existsSync(truth))
      for (const t of readdirSync(truth).sort()) {
        const doc = JSON.parse(readFileSync(join(truth, t), "utf8")) as {
          threads: { frames: { frame_bytes_hex: string }[] }[];
        };
        for (const th of doc.threads)
          for (const f of th.frames)
            out.push(
              one(
                `fixture ${t}`,
                "frame.bin",
                Buffer.from(f.frame_bytes_hex, "hex"),
                "frame",
                frameCommands("amd-zen5"),
                1,
              ),
            );
      }
    return out;
  },
};

const STATE_COMMANDS = [
  ["build", "--cpu", "amd-zen4", "--state", "$IN", "-o", "$OUT"],
  ["build", "--cpu", "intel-sapphirerapids", "--amx", "--style", "criu", "--state", "$IN", "-o", "$OUT"],
  ["build", "--style", "pwntools", "--state", "$IN", "-o", "$OUT"],
  ["build", "--cpu", "amd-zen4", "--ia32", "--state", "$IN", "-o", "$OUT"],
  ["build", "--cpu", "intel-haswell", "--fpstate-only", "--state", "$IN", "-o", "$OUT"],
];

const stateJson: Family = {
  name: "state-json",
  summary: "STATE.json register values for build (every style, ia32, AMX)",
  seeds() {
    return stateSeeds().map((b, i) => one(`state ${i}`, "state.json", b, "json", STATE_COMMANDS));
  },
};

const ARCHIVE_COMMANDS = [
  ["scan", "$IN", "--json"],
  ["scan", "$IN"],
  ["check", "--checkpoint", "$IN", "--to", "intel-sapphirerapids", "--json"],
  ["layout", "$IN", "--json"],
  ["criu", "show", "$IN", "--json"],
  ["criu", "show", "$IN", "--member", "pstree.img", "--json"],
  ["criu", "show", "$IN", "--member", "cpuinfo.img"],
];

/** Podman's pod archive: pod.options, pod.dump, a container archive each (one compressed). */
function podArchive(a: Uint8Array, b: Uint8Array): Uint8Array {
  const enc = new TextEncoder();
  return tarOf([
    ["pod.options", enc.encode('{"version":1,"containers":["a","b"],"mountLabel":"","processLabel":""}')],
    ["pod.dump", enc.encode('{"metadata":{"name":"fuzz","namespace":"default","uid":"u1"}}')],
    ["a.tar.zst", zstdStored(a)],
    ["b.tar", b],
  ]);
}

const archive: Family = {
  name: "archive",
  summary:
    "checkpoint archives (Podman/CRI-O tar, pods of them; plain, gzip, zstd, xz, lz4): scan, check --checkpoint, layout, criu show [--member]",
  seeds() {
    const out: Seed[] = [];
    const tar = checkpointArchive(checkpointFiles("amd-zen4"));
    out.push(one("generated tar", "checkpoint.tar", tar, "archive", ARCHIVE_COMMANDS));
    // The tar mutated, then compressed: the members' structure under each decompressor.
    for (const [label, suffix, wrap] of WRAPS)
      out.push({
        ...one(
          `generated tar, mutated inside ${label}`,
          `checkpoint.tar${suffix}`,
          tar,
          "archive",
          ARCHIVE_COMMANDS,
        ),
        wrap,
      });
    // The compressed bytes mutated: the decompressors' own framing, blocks and checksums.
    for (const f of compressedForms(tar))
      out.push(
        one(
          `generated tar as ${f.label}`,
          `checkpoint.tar${f.suffix}`,
          f.bytes,
          "bytes",
          ARCHIVE_COMMANDS,
          2,
        ),
      );
    const sr = checkpointFiles("intel-sapphirerapids");
    out.push(one("generated bare image tar", "images.tar", tarOf([...sr]), "archive", ARCHIVE_COMMANDS));
    // runc/crun's way: no cpuinfo.img, the CPU from dump.log beside the images.
    const runc = new Map(sr);
    runc.delete("cpuinfo.img");
    const withLog = checkpointArchive(runc, [["dump.log", dumpLog("intel-sapphirerapids")]]);
    out.push(one("generated tar with dump.log", "checkpoint.tar", withLog, "archive", ARCHIVE_COMMANDS));
    out.push(
      one("generated pod archive", "pod.tar", podArchive(tar, withLog), "archive", ARCHIVE_COMMANDS, 2),
    );
    const fx = fixtureCheckpoints().find((c) => c.label.endsWith("S2"));
    if (fx) {
      const t = checkpointArchive(fx.files);
      out.push(one("fixture S2 tar", "checkpoint.tar", t, "archive", ARCHIVE_COMMANDS, 1));
      out.push(one("fixture S2 tar.gz", "checkpoint.tar.gz", gzip(t), "archive", ARCHIVE_COMMANDS, 1));
    }
    return out;
  },
};

/** Compressions a seed's mutated bytes are wrapped in before they are written (fast, pure). */
const WRAPS: [label: string, suffix: string, wrap: (b: Uint8Array) => Uint8Array][] = [
  ["gzip", ".gz", gzip],
  ["zstd", ".zst", zstdStored],
  ["lz4", ".lz4", lz4Stored],
];

const COMPRESSED_CORE_COMMANDS = [
  ["scan", "$IN", "--json"],
  ["scan", "$IN", "--all"],
  ["check", "--core", "$IN", "--to", "intel-sapphirerapids", "--json"],
  ["check", "--core", "$IN", "--to", "amd-zen2"],
  ["layout", "$IN", "--json"],
];

const compressedCore: Family = {
  name: "compressed-core",
  summary:
    "compressed ELF cores (gzip, zstd, xz, lz4): input sniffing, the decompressors and the streamed core reader under scan, check --core, layout",
  seeds() {
    const out: Seed[] = [];
    for (const cpu of ["amd-zen4", "intel-haswell"]) {
      const core = frameCore(cpu);
      for (const [label, suffix, wrap] of WRAPS)
        out.push({
          ...one(
            `${cpu} core, mutated inside ${label}`,
            `frame.core${suffix}`,
            core,
            "elf",
            COMPRESSED_CORE_COMMANDS,
            3,
          ),
          wrap,
        });
      for (const f of compressedForms(core))
        out.push(
          one(
            `${cpu} core as ${f.label}`,
            `frame.core${f.suffix}`,
            f.bytes,
            "bytes",
            COMPRESSED_CORE_COMMANDS,
            2,
          ),
        );
    }
    const amx = frameCore("intel-sapphirerapids", true);
    out.push({
      ...one(
        "intel-sapphirerapids AMX core, mutated inside zstd",
        "frame.core.zst",
        amx,
        "elf",
        COMPRESSED_CORE_COMMANDS,
        2,
      ),
      wrap: zstdStored,
    });
    const fx = fixtureCores().find((c) => c.name.includes("kernel"));
    if (fx)
      out.push(
        one(
          `fixture ${fx.name} as gzip`,
          `${fx.name}.gz`,
          gzip(fx.bytes),
          "bytes",
          COMPRESSED_CORE_COMMANDS,
          1,
        ),
      );
    return out;
  },
};

const DUMP_LOG_COMMANDS = [
  ["layout", "$IN", "--json"],
  ["check", "--from", "$IN", "--to", "amd-zen4", "--json"],
  ["check", "--from", "intel-sapphirerapids", "--to", "$IN", "--json"],
  ["matrix", "$IN", "intel-skylake-server", "--json"],
  ["build", "--cpu", "$IN", "-o", "$OUT"],
];

const dumpLogFamily: Family = {
  name: "dump-log",
  summary: "CRIU dump.log (compel's cpu: lines) as PROFILE: layout, check, matrix, build",
  seeds() {
    const out: Seed[] = [];
    for (const cpu of [
      "amd-zen4",
      "amd-zen5",
      "intel-sapphirerapids",
      "intel-haswell",
      "intel-skylake-server",
    ])
      if (BUILTIN_NAMES.includes(cpu))
        out.push(one(`generated ${cpu}`, "dump.log", dumpLog(cpu), "cpuid", DUMP_LOG_COMMANDS));
    const dir = join(FIXTURES, "criu");
    if (existsSync(dir))
      for (const s of readdirSync(dir).sort()) {
        const p = join(dir, s, "logs", "dump.log");
        if (existsSync(p))
          out.push(one(`fixture ${s} dump.log`, "dump.log", readFileSync(p), "cpuid", DUMP_LOG_COMMANDS, 1));
      }
    return out;
  },
};

export const FAMILIES: readonly Family[] = [
  profileJson,
  cpuidR,
  criuImage,
  checkpoint,
  elfCore,
  rawImage,
  frame,
  stateJson,
  archive,
  compressedCore,
  dumpLogFamily,
];

export function familyByName(name: string): Family | undefined {
  return FAMILIES.find((f) => f.name === name);
}
