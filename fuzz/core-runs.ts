/**
 * The parser level of a campaign (`--level core`): each family's readers called directly on the
 * case's bytes in memory, as the commands call them, without the CLI around them (no argument
 * parsing, no files, no rendering to a stream). An execution costs the parsing and the model built
 * from it, so a campaign reaches millions of executions; the command level (the default) runs the
 * same inputs through the whole CLI.
 *
 * Each run names the CLI command that does the same reading: a finding's reproducer runs that.
 */

import { sniffStream } from "../src/core/archive/input.ts";
import { listArchive, readArchiveMember } from "../src/core/archive/members.ts";
import { profileFromStream } from "../src/core/archive/profile.ts";
import { scanStreamed } from "../src/core/archive/scan-input.ts";
import { type ByteStream, bytesStream } from "../src/core/archive/streams.ts";
import { checkHosts, checkJson } from "../src/core/compat/check-hosts.ts";
import { loadCheckpoint } from "../src/core/criu/checkpoint.ts";
import { decodeImage } from "../src/core/criu/handlers.ts";
import { critImage, critJson } from "../src/core/criu/render.ts";
import { openCore } from "../src/core/elf/index.ts";
import { UsageError } from "../src/core/errors.ts";
import { toJson } from "../src/core/hex.ts";
import { checkInputSize } from "../src/core/input.ts";
import { parseKernelVersion } from "../src/core/kernel.ts";
import type { Profile } from "../src/core/profile.ts";
import { builtinProfile, profileFromBytes, profileFromElf } from "../src/core/profiles/detect.ts";
import { scannedFrames } from "../src/core/scan/cases.ts";
import { scanJson } from "../src/core/scan/report.ts";
import {
  checkpointTarget,
  elfCoreTarget,
  type ProcessScan,
  rawTarget,
  type ScanTarget,
  scanTarget,
  settleSourceCpu,
} from "../src/core/scan/targets.ts";
import {
  buildReport,
  type FrameEnv,
  inspectJson,
  inspectReport,
  predictJson,
  predictReport,
} from "../src/core/sigframe/report.ts";
import { translateJson, translateReport } from "../src/core/sigframe/translate/report.ts";
import { bytesSource } from "../src/core/source.ts";
import type { XsaveLayout } from "../src/core/xsave/layout.ts";
import { profileLayout } from "../src/core/xsave/options.ts";
import { layoutJson } from "../src/core/xsave/report.ts";

/** The name a case's input goes by in a run (the CLI's `$IN`). */
export const IN = "$IN";

export interface CoreRun {
  /** The CLI command that reads the input the same way (`$IN`, `$OUT` as in a family's commands). */
  command: string[];
  /** Reads the case: `files` are its files as written (compressed where the seed wraps them). */
  run(files: ReadonlyMap<string, Uint8Array>, main: string | undefined): Promise<unknown>;
}

/** What a seed tells the parser level: its family's name and its command templates. */
interface SeedInfo {
  main?: string;
  commands: string[][];
}

/** Cap on one image or member read whole (as the CLI's readers have). */
const MAX_WHOLE = 64 * 1024 * 1024;

function mainBytes(files: ReadonlyMap<string, Uint8Array>, main: string | undefined): Uint8Array {
  const b = main !== undefined ? files.get(main) : undefined;
  if (!b) throw new Error(`the case has no file ${main}`);
  checkInputSize(b.length, MAX_WHOLE, IN);
  return b;
}

/** A PROFILE argument: the case's input for `$IN`, else a built-in name. */
function profileEnv(load: () => Profile | Promise<Profile>) {
  return {
    loadProfile: (arg: string) => (arg === IN ? load() : builtinProfile(arg)),
  };
}

/** Every JSON document is serialised as the CLI writes it. */
function json(v: unknown): number {
  return toJson(v).length;
}

function optionOf(commands: string[][], flag: string): string | undefined {
  for (const c of commands) {
    const i = c.indexOf(flag);
    if (i >= 0 && i + 1 < c.length) return c[i + 1];
  }
  return undefined;
}

/** `check --checkpoint/--core`'s environment: the frames of `scan()`'s target. */
function checkEnv(scan: () => { t: ScanTarget; scans: ProcessScan[] }) {
  return {
    ...profileEnv(() => builtinProfile("amd-zen4")),
    checkpointFrames: (_k: string, path: string, from: XsaveLayout | undefined, to: XsaveLayout) => {
      const { t, scans } = scan();
      return scannedFrames([{ target: t, scans }], path, from, to);
    },
  };
}

/** PROFILE inputs read whole: sigframe-profile/1 and corpus JSON, `cpuid -r`, dump.log, cpuinfo.img. */
function profileRuns(): CoreRun[] {
  const read = (files: ReadonlyMap<string, Uint8Array>, main: string | undefined) =>
    profileFromBytes(mainBytes(files, main), IN);
  return [
    {
      command: ["layout", IN, "--json"],
      run: async (f, m) => json(layoutJson(profileLayout(read(f, m)))),
    },
    {
      command: ["layout", IN, "--amx", "--kernel", "6.15", "--json"],
      run: async (f, m) =>
        json(layoutJson(profileLayout(read(f, m), { amx: true, kernel: parseKernelVersion("6.15") }))),
    },
    {
      command: ["check", "--from", IN, "--to", "amd-zen4", "--json"],
      run: async (f, m) =>
        json(
          checkJson(
            await checkHosts(
              { from: IN, to: "amd-zen4" },
              profileEnv(() => read(f, m)),
            ),
          ),
        ),
    },
  ];
}

function criuImageRuns(s: SeedInfo): CoreRun[] {
  const runs: CoreRun[] = [
    {
      command: ["criu", "show", IN, "--json"],
      run: async (f, m) => critJson(critImage(await decodeImage(mainBytes(f, m), IN))).length,
    },
  ];
  if (s.main === "cpuinfo.img") runs.push(...profileRuns());
  return runs;
}

/** A checkpoint folder held in memory: images read whole, pages files through random access. */
function memoryCheckpoint(files: ReadonlyMap<string, Uint8Array>) {
  return loadCheckpoint({
    has: (n) => files.has(n),
    bytes: (n) => {
      const b = files.get(n);
      if (!b) throw new UsageError("no such file", { input: n });
      checkInputSize(b.length, MAX_WHOLE, n);
      return b;
    },
    source: (n) => {
      const b = files.get(n);
      if (!b) throw new UsageError("no such file", { input: n });
      return bytesSource(b);
    },
  });
}

function checkpointRuns(): CoreRun[] {
  const scan = (files: ReadonlyMap<string, Uint8Array>, all: boolean) => {
    const t = checkpointTarget(memoryCheckpoint(files), IN);
    const scans = scanTarget(t, all ? { all } : {});
    settleSourceCpu(t, scans);
    return { t, scans };
  };
  return [
    {
      command: ["scan", IN, "--json"],
      run: async (f) => {
        const { t, scans } = scan(f, false);
        return json(scanJson(t, scans, false));
      },
    },
    {
      command: ["scan", IN, "--all", "--json"],
      run: async (f) => {
        const { t, scans } = scan(f, true);
        return json(scanJson(t, scans, true));
      },
    },
    {
      command: ["check", "--checkpoint", IN, "--to", "intel-sapphirerapids", "--json"],
      run: async (f) => {
        const env = checkEnv(() => scan(f, false));
        return json(checkJson(await checkHosts({ checkpoint: IN, to: "intel-sapphirerapids" }, env)));
      },
    },
  ];
}

function elfCoreRuns(): CoreRun[] {
  const scan = (b: Uint8Array, all: boolean) => {
    const t = elfCoreTarget(openCore(bytesSource(b), IN), IN);
    const scans = scanTarget(t, all ? { all } : {});
    settleSourceCpu(t, scans);
    return { t, scans };
  };
  return [
    {
      command: ["scan", IN, "--json"],
      run: async (f, m) => {
        const { t, scans } = scan(mainBytes(f, m), false);
        return json(scanJson(t, scans, false));
      },
    },
    {
      command: ["scan", IN, "--all", "--json"],
      run: async (f, m) => {
        const { t, scans } = scan(mainBytes(f, m), true);
        return json(scanJson(t, scans, true));
      },
    },
    {
      command: ["layout", IN, "--json"],
      run: async (f, m) => json(layoutJson(profileLayout(profileFromElf(bytesSource(mainBytes(f, m)), IN)))),
    },
    {
      command: ["check", "--core", IN, "--to", "amd-zen2", "--json"],
      run: async (f, m) => {
        const env = checkEnv(() => scan(mainBytes(f, m), false));
        return json(checkJson(await checkHosts({ core: IN, to: "amd-zen2" }, env)));
      },
    },
  ];
}

function rawImageRuns(s: SeedInfo): CoreRun[] {
  const base = BigInt(optionOf(s.commands, "--base") ?? "0");
  const spArg = optionOf(s.commands, "--sp");
  const sp = spArg !== undefined ? BigInt(spArg) : undefined;
  const hex = (v: bigint) => `0x${v.toString(16)}`;
  const scan = (
    b: Uint8Array,
    all: boolean,
    thread: { sp?: bigint; altstack?: { sp: bigint; size: bigint } },
  ) => {
    const t = rawTarget(bytesSource(b), base, IN, thread);
    const scans = scanTarget(t, all ? { all } : {});
    settleSourceCpu(t, scans);
    return json(scanJson(t, scans, all));
  };
  const runs: CoreRun[] = [
    {
      command: ["scan", IN, "--base", hex(base), "--json"],
      run: async (f, m) => scan(mainBytes(f, m), false, {}),
    },
    {
      command: ["scan", IN, "--base", hex(base), "--all", "--json"],
      run: async (f, m) => scan(mainBytes(f, m), true, {}),
    },
  ];
  if (sp !== undefined)
    runs.push({
      command: [
        "scan",
        IN,
        "--base",
        hex(base),
        "--sp",
        hex(sp),
        "--altstack",
        `${hex(base)}:0x4000`,
        "--json",
      ],
      run: async (f, m) => scan(mainBytes(f, m), false, { sp, altstack: { sp: base, size: 0x4000n } }),
    });
  return runs;
}

function frameEnv(files: ReadonlyMap<string, Uint8Array>, main: string | undefined): FrameEnv {
  return {
    ...profileEnv(() => {
      throw new Error("no PROFILE input in this family");
    }),
    readInput: (path: string, max: number) => {
      if (path !== IN) throw new UsageError("no such file", { input: path });
      const bytes = mainBytes(files, main);
      checkInputSize(bytes.length, max, IN);
      return { name: IN, bytes };
    },
  };
}

function frameRuns(s: SeedInfo): CoreRun[] {
  const cpu = optionOf(s.commands, "--cpu") ?? "amd-zen4";
  return [
    {
      command: ["inspect", IN, "--cpu", cpu, "--json"],
      run: async (f, m) => json(inspectJson(await inspectReport({ input: IN, cpu }, frameEnv(f, m)))),
    },
    {
      command: ["inspect", IN, "--fpstate-only", "--json"],
      run: async (f, m) =>
        json(inspectJson(await inspectReport({ input: IN, fpstateOnly: true }, frameEnv(f, m)))),
    },
    {
      command: ["inspect", IN, "--as", "ia32-frame", "--json"],
      run: async (f, m) =>
        json(inspectJson(await inspectReport({ input: IN, as: "ia32-frame" }, frameEnv(f, m)))),
    },
    {
      command: ["predict", IN, "--cpu", cpu, "--all-policies", "--json"],
      run: async (f, m) =>
        json(predictJson(await predictReport({ input: IN, cpu, allPolicies: true }, frameEnv(f, m)))),
    },
    {
      command: ["predict", IN, "--ia32", "--cpu", cpu, "--policy", "classic", "--json"],
      run: async (f, m) =>
        json(
          predictJson(await predictReport({ input: IN, cpu, ia32: true, policy: "classic" }, frameEnv(f, m))),
        ),
    },
    {
      command: ["translate", IN, "--from", cpu, "--to", "intel-sapphirerapids", "-o", "$OUT"],
      run: async (f, m) =>
        json(
          translateJson(
            await translateReport(
              { input: IN, from: cpu, to: "intel-sapphirerapids", output: "$OUT" },
              frameEnv(f, m),
            ),
          ),
        ),
    },
  ];
}

function stateRuns(): CoreRun[] {
  const build =
    (request: Parameters<typeof buildReport>[0]) =>
    async (f: ReadonlyMap<string, Uint8Array>, m: string | undefined) =>
      (await buildReport(request, frameEnv(f, m))).bytes.length;
  return [
    {
      command: ["build", "--cpu", "amd-zen4", "--state", IN, "-o", "$OUT"],
      run: build({ cpu: "amd-zen4", state: IN, output: "$OUT" }),
    },
    {
      command: [
        "build",
        "--cpu",
        "intel-sapphirerapids",
        "--amx",
        "--style",
        "criu",
        "--state",
        IN,
        "-o",
        "$OUT",
      ],
      run: build({ cpu: "intel-sapphirerapids", amx: true, style: "criu", state: IN, output: "$OUT" }),
    },
    {
      command: ["build", "--style", "pwntools", "--state", IN, "-o", "$OUT"],
      run: build({ style: "pwntools", state: IN, output: "$OUT" }),
    },
    {
      command: ["build", "--cpu", "amd-zen4", "--ia32", "--state", IN, "-o", "$OUT"],
      run: build({ cpu: "amd-zen4", ia32: true, state: IN, output: "$OUT" }),
    },
  ];
}

/** Streamed inputs (archives, compressed cores): sniffed, decompressed and read by the core's readers. */
function streamRuns(archive: boolean): CoreRun[] {
  const open = (f: ReadonlyMap<string, Uint8Array>, m: string | undefined) => {
    const b = mainBytes(f, m);
    return (): ByteStream => bytesStream(b, 64 * 1024);
  };
  const scan = async (f: ReadonlyMap<string, Uint8Array>, m: string | undefined, all: boolean) => {
    const o = open(f, m);
    const sniffed = await sniffStream(o());
    // What the CLI refuses before reading further (neither an archive nor a core): nothing to scan.
    if (sniffed.kind !== "checkpoint-archive" && sniffed.kind !== "core") {
      await sniffed.stream[Symbol.asyncIterator]().return?.();
      return 0;
    }
    let first: ByteStream | undefined = sniffed.stream;
    const again = (): ByteStream => {
      const s = first ?? o();
      first = undefined;
      return s;
    };
    const res = await scanStreamed(
      sniffed.kind,
      again,
      IN,
      all ? { all, reopenable: true } : { reopenable: true },
    );
    return res.parts.reduce((n, p) => n + json(scanJson(p.target, p.scans, all)), 0);
  };
  const runs: CoreRun[] = [
    { command: ["scan", IN, "--json"], run: (f, m) => scan(f, m, false) },
    { command: ["scan", IN, "--all", "--json"], run: (f, m) => scan(f, m, true) },
    {
      command: ["layout", IN, "--json"],
      run: async (f, m) =>
        json(layoutJson(profileLayout(await profileFromStream(open(f, m), IN, { reopenable: true })))),
    },
  ];
  if (archive)
    runs.push(
      {
        command: ["criu", "show", IN, "--json"],
        run: async (f, m) => (await listArchive(open(f, m)())).members.length,
      },
      {
        command: ["criu", "show", IN, "--member", "pstree.img", "--json"],
        run: async (f, m) => {
          const member = await readArchiveMember(open(f, m)(), "pstree.img", MAX_WHOLE);
          return critJson(critImage(await decodeImage(member.bytes, member.name))).length;
        },
      },
    );
  return runs;
}

/** The parser-level runs of a family's seed. */
export function coreRuns(family: string, seed: SeedInfo): CoreRun[] {
  switch (family) {
    case "profile-json":
    case "cpuid-r":
    case "dump-log":
      return profileRuns();
    case "criu-image":
      return criuImageRuns(seed);
    case "checkpoint":
      return checkpointRuns();
    case "elf-core":
      return elfCoreRuns();
    case "raw-image":
      return rawImageRuns(seed);
    case "frame":
      return frameRuns(seed);
    case "state-json":
      return stateRuns();
    case "archive":
      return streamRuns(true);
    case "compressed-core":
      return streamRuns(false);
    default:
      throw new Error(`no parser-level runs for family ${family}`);
  }
}
