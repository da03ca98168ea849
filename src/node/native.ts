/**
 * The native helper (native/*.c, built into native/build/sigframe-helper by
 * scripts/build-native.mjs): where it is, whether it can run here, and its three subcommands.
 * The Node process never runs an experiment itself; it spawns the helper and validates its JSON.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { Cpuid, type CpuidLeaf } from "../core/cpuid/cpuid.ts";
import { EnvironmentError, InvalidDataError } from "../core/errors.ts";
import type { ProbeCase } from "../core/probe/cases.ts";
import {
  decodeFrame,
  decodeProbeOutput,
  encodeCases,
  type FrameSeen,
  frameSchema,
  type ProbeRun,
} from "../core/probe/protocol.ts";
import type { Isa, RegImage } from "../core/probe/regions.ts";
import { type Profile, profileFromCpuid } from "../core/profile.ts";
import { FP_XSTATE_MAGIC1 } from "../core/xsave/components.ts";

/** The package root: the nearest folder above this module with sigframe's package.json. */
function packageRoot(from = dirname(fileURLToPath(import.meta.url))): string {
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

/** The helper binary: SIGFRAME_HELPER overrides the built one (packagers, tests). */
const HELPER_PATH = process.env.SIGFRAME_HELPER || join(packageRoot(), "native", "build", "sigframe-helper");

type HelperStatus = { ok: true; path: string } | { ok: false; reason: string };

/** Whether the helper can run on this machine, and if not, why. */
export function helperStatus(path = HELPER_PATH): HelperStatus {
  if (process.platform !== "linux" || process.arch !== "x64") {
    return {
      ok: false,
      reason: `the native helper needs Linux on x86-64 (this is ${process.platform}/${process.arch})`,
    };
  }
  const marker = join(dirname(path), "UNAVAILABLE");
  if (!existsSync(path)) {
    if (existsSync(marker)) {
      const why = readFileSync(marker, "utf8").trim();
      return { ok: false, reason: `the native helper was not built: ${why}` };
    }
    return {
      ok: false,
      reason: "the native helper is not built (run 'npm run build', which needs a C compiler)",
    };
  }
  return { ok: true, path };
}

/** The helper's path, or an EnvironmentError (exit 4) that says why it cannot run. */
export function requireHelper(input = "host"): string {
  const s = helperStatus();
  if (!s.ok) throw new EnvironmentError(s.reason, { input });
  return s.path;
}

/** Runs the helper and parses its JSON; any failure is an EnvironmentError naming the subcommand. */
function runHelper(args: string[], opts: { input?: string; timeoutMs?: number } = {}): unknown {
  const path = requireHelper(args[0] === "probe" ? "probe" : "host");
  const what = `sigframe-helper ${args[0]}`;
  const r = spawnSync(path, args, {
    input: opts.input ?? "",
    encoding: "utf8",
    timeout: opts.timeoutMs ?? 30_000,
    killSignal: "SIGKILL",
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    throw new EnvironmentError(
      code === "ETIMEDOUT" ? `${what} did not finish in time` : `cannot run ${what}: ${r.error.message}`,
      { input: what },
    );
  }
  if (r.signal) throw new EnvironmentError(`${what} was killed by ${r.signal}`, { input: what });
  if (r.status !== 0) {
    const msg = (r.stderr || "").trim().split("\n").pop() || `exit code ${r.status}`;
    throw new EnvironmentError(`${what} failed: ${msg}`, { input: what });
  }
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw new EnvironmentError(`${what} printed something that is not JSON`, { input: what });
  }
}

function invalid(what: string, err: z.ZodError): never {
  const issue = err.issues[0]!;
  throw new InvalidDataError(`unexpected helper output: ${issue.message}`, {
    input: what,
    path: issue.path.map(String).join("/"),
  });
}

const hex = z.string().regex(/^0x[0-9a-f]+$/);
const cpuidSchema = z.object({
  helper: z.literal("sigframe-helper"),
  protocol: z.literal(1),
  cpu: z.number().int(),
  leaves: z
    .array(z.object({ leaf: hex, subleaf: hex, eax: hex, ebx: hex, ecx: hex, edx: hex }))
    .min(1)
    .max(4096),
  osxsave: z.boolean(),
  xcr0: hex.optional(),
  xinuse: hex.optional(),
  atMinSigStkSz: z.number().int().min(0),
  mxcsrMask: hex,
  isa: z.enum(["sse", "avx", "avx512"]),
  kBits: z.number().int(),
  uname: z.object({ sysname: z.string(), release: z.string(), version: z.string(), machine: z.string() }),
});

interface NativeCpuid {
  /** The logical CPU the helper ran on. */
  cpu: number;
  leaves: CpuidLeaf[];
  xcr0?: bigint;
  xinuse?: bigint;
  atMinSigStkSz: number;
  mxcsrMask: number;
  /** The register set the probe uses (from CPUID and XCR0). */
  isa: Isa;
  kBits: number;
  uname: { sysname: string; release: string; version: string; machine: string };
}

/** CPUID (every leaf and sub-leaf the helper knows), XGETBV, AT_MINSIGSTKSZ, MXCSR_MASK, uname. */
export function nativeCpuid(opts: { cpu?: number } = {}): NativeCpuid {
  const args = ["cpuid"];
  if (opts.cpu !== undefined) args.push("--cpu", String(opts.cpu));
  const r = cpuidSchema.safeParse(runHelper(args));
  if (!r.success) invalid("sigframe-helper cpuid", r.error);
  const d = r.data;
  const out: NativeCpuid = {
    cpu: d.cpu,
    leaves: d.leaves.map((l) => ({
      leaf: Number(l.leaf) >>> 0,
      subleaf: Number(l.subleaf) >>> 0,
      eax: Number(l.eax) >>> 0,
      ebx: Number(l.ebx) >>> 0,
      ecx: Number(l.ecx) >>> 0,
      edx: Number(l.edx) >>> 0,
    })),
    atMinSigStkSz: d.atMinSigStkSz,
    mxcsrMask: Number(d.mxcsrMask) >>> 0,
    isa: d.isa,
    kBits: d.kBits,
    uname: d.uname,
  };
  if (d.xcr0 !== undefined) out.xcr0 = BigInt(d.xcr0);
  if (d.xinuse !== undefined) out.xinuse = BigInt(d.xinuse);
  return out;
}

const frameDoc = frameSchema.extend({ helper: z.literal("sigframe-helper"), protocol: z.literal(1) });

/** The frame this kernel delivers for a plain signal. */
export function nativeFrame(): FrameSeen {
  const r = frameDoc.safeParse(runHelper(["frame"]));
  if (!r.success) invalid("sigframe-helper frame", r.error);
  return decodeFrame(r.data);
}

interface HostCapture {
  profile: Profile;
  cpuid: NativeCpuid;
  frame: FrameSeen;
}

/** This machine as a profile: CPUID, XCR0, XINUSE, kernel, AT_MINSIGSTKSZ, MXCSR_MASK, the frame. */
export function nativeHostProfile(): Profile {
  return nativeHostCapture().profile;
}

/** The profile plus the helper's raw answers (register set, the frame's bytes). */
export function nativeHostCapture(): HostCapture {
  const c = nativeCpuid();
  const f = nativeFrame();
  const cpuid = new Cpuid(c.leaves);
  const p = profileFromCpuid(cpuid, "host", { kind: "host" }, [
    `captured by the native helper on CPU ${c.cpu}`,
  ]);
  p.kernel = c.uname.release;
  p.atMinSigStkSz = c.atMinSigStkSz;
  p.mxcsrMask = c.mxcsrMask;
  if (c.xcr0 !== undefined) p.xcr0 = c.xcr0;
  else p.notes.push("CPUID.1:ECX.OSXSAVE is clear: XCR0 cannot be read");
  if (c.xinuse !== undefined) p.xinuse = c.xinuse;
  if (f.sw && f.sw.magic1 === FP_XSTATE_MAGIC1) {
    p.observed = {
      xstateSize: f.sw.xstateSize,
      extendedSize: f.sw.extendedSize,
      xfeatures: f.sw.xfeatures,
      fpstateOffset: f.fpstateOffset,
    };
    if (f.xstateBv !== undefined) p.observed.xstateBv = f.xstateBv;
    if (f.mxcsrMask !== undefined) p.observed.mxcsrMask = f.mxcsrMask;
  } else {
    p.notes.push("the delivered frame has no magic1: the kernel writes FXSAVE-only frames (no XSAVE)");
  }
  return { profile: p, cpuid: c, frame: f };
}

/** hostProviders entry: the helper when it can run here, else nothing (the fallbacks take over). */
export const nativeHostProvider = {
  name: "native helper",
  capture(): Profile | undefined {
    return helperStatus().ok ? nativeHostProfile() : undefined;
  },
};

/** Runs cases through the helper, each in its own child, with `initial` loaded before the signal. */
export function nativeProbe(
  cases: readonly ProbeCase[],
  initial: RegImage,
  opts: { timeoutMsPerCase?: number; isa?: Isa } = {},
): ProbeRun {
  const timeoutMsPerCase = opts.timeoutMsPerCase ?? 5000;
  const args = ["probe", "--timeout-ms", String(timeoutMsPerCase)];
  if (opts.isa) args.push("--isa", opts.isa);
  const doc = runHelper(args, {
    input: encodeCases(cases, initial),
    timeoutMs: 30_000 + cases.length * timeoutMsPerCase,
  });
  return decodeProbeOutput(doc);
}
