/**
 * The native helper (native/*.c, built into native/build/sigframe-helper by
 * scripts/build-native.mjs): where it is, whether it can run here, and its three subcommands.
 * The Node process never runs an experiment itself; it spawns the helper and validates its JSON.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { EnvironmentError, isSigframeError } from "../core/errors.ts";
import { hasBit } from "../core/hex.ts";
import type { ProbeCase } from "../core/probe/cases.ts";
import {
  decodeCpuidOutput,
  decodeFrameOutput,
  decodeProbeOutput,
  encodeCases,
  type FrameSeen,
  type HelperCpuid,
  type ProbeRun,
} from "../core/probe/protocol.ts";
import type { Isa, RegImage } from "../core/probe/regions.ts";
import { helperCapture, type ProbeCapture } from "../core/probe/report.ts";
import type { Profile } from "../core/profile.ts";
import { FP_XSTATE_MAGIC1, XFEATURE } from "../core/xsave/components.ts";
import { packageRoot } from "./package-root.ts";

/** The helper binary: SIGFRAME_HELPER overrides the built one (packagers, tests). */
const HELPER_PATH = process.env.SIGFRAME_HELPER || join(packageRoot(), "native", "build", "sigframe-helper");
/**
 * The statically linked helper (for sandboxes without this libc, and abi-test's initramfs):
 * SIGFRAME_HELPER_STATIC overrides it.
 */
const STATIC_HELPER_PATH =
  process.env.SIGFRAME_HELPER_STATIC || join(packageRoot(), "native", "build", "sigframe-helper-static");

type HelperStatus = { ok: true; path: string } | { ok: false; reason: string };

/** Whether the static helper was built, and if not, why (UNAVAILABLE-static beside it). */
export function staticHelperStatus(path = STATIC_HELPER_PATH): HelperStatus {
  if (existsSync(path)) return { ok: true, path };
  const marker = join(dirname(path), "UNAVAILABLE-static");
  const why = existsSync(marker) ? readFileSync(marker, "utf8").trim() : "run 'npm run build'";
  return { ok: false, reason: `the static native helper (sigframe-helper-static) is not built: ${why}` };
}

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

/** What one run of a helper subcommand left behind. */
export interface HelperOutput {
  /** Exit code; null when a signal ended it. */
  status: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  /** Why it could not be started or was stopped (spawn error, timeout). */
  error?: string;
}

/**
 * Runs one helper subcommand somewhere: here, under a runtime's command line, in a guest. `label`
 * names it in messages ("sigframe-helper", "sigframe-helper under runsc do").
 */
export interface HelperRunner {
  label: string;
  /** What an error names as its input (`host`, `probe`, `--under`). */
  input: string;
  run(args: readonly string[], input: string, timeoutMs: number): HelperOutput;
}

/**
 * Spawns `argv` (program first) with the helper's arguments after it. `group`: in a process group
 * of its own, killed as a whole when the run ends (a runtime's sandbox, emulator or helper that
 * outlives it, or holds its output open, is not left behind; the timeout bounds the wait).
 */
export function spawnRunner(
  argv: readonly string[],
  label: string,
  input = label,
  opts: { group?: boolean } = {},
): HelperRunner {
  return {
    label,
    input,
    run(args, input, timeoutMs) {
      const r = spawnSync(argv[0]!, [...argv.slice(1), ...args], {
        input,
        encoding: "utf8",
        timeout: timeoutMs,
        killSignal: "SIGKILL",
        maxBuffer: 256 * 1024 * 1024,
        ...(opts.group ? { detached: true } : {}),
      });
      if (opts.group && r.pid > 0) {
        try {
          process.kill(-r.pid, "SIGKILL");
        } catch {} // ESRCH: nothing of it is left
      }
      const out: HelperOutput = {
        status: r.status,
        signal: r.signal,
        stdout: r.stdout ?? "",
        stderr: r.stderr ?? "",
      };
      // EPIPE: it ended without reading all its input; its exit status and output say the rest.
      if (r.error && (r.error as NodeJS.ErrnoException).code !== "EPIPE") {
        const code = (r.error as NodeJS.ErrnoException).code;
        out.error =
          code === "ETIMEDOUT"
            ? `did not finish in ${Math.round(timeoutMs / 1000)} s`
            : code === "ENOENT"
              ? `${argv[0]}: command not found`
              : r.error.message;
      }
      return out;
    },
  };
}

/** The built helper, run directly; `input` names the command in the error when it is not built. */
export function nativeRunner(input = "host"): HelperRunner {
  return spawnRunner([requireHelper(input)], "sigframe-helper", input);
}

/** The last line of stderr, or the exit status, of a run that failed. */
export function failureOf(o: HelperOutput): string {
  if (o.error) return o.error;
  const last = o.stderr.trim().split("\n").filter(Boolean).pop();
  if (o.signal) return `killed by ${o.signal}${last ? `: ${last}` : ""}`;
  // 127: the shell's and exec's "command not found", from a runtime that could not start the helper.
  if (o.status === 127) return `exit code 127 (could not run the helper)${last ? `: ${last}` : ""}`;
  return last ?? (o.status === 0 ? "no output (exit code 0)" : `exit code ${o.status}`);
}

/**
 * `f`'s result; output a runtime or guest gave that is not the helper's protocol (an emulator's
 * message on stdout, garbage, a cut-short document) is the environment failing, not bad input:
 * an EnvironmentError on `input`, with what was wrong.
 */
export function fromRuntime<T>(input: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (isSigframeError(e) && (e.kind === "invalid" || e.kind === "truncated")) {
      const where = e.where();
      throw new EnvironmentError(`${e.input ?? "the helper"}${where ? `:${where}` : ""}: ${e.message}`, {
        input,
      });
    }
    throw e;
  }
}

/** Runs a subcommand that must succeed; anything else is an EnvironmentError naming it. */
function runChecked(runner: HelperRunner, args: string[], input = "", timeoutMs = 30_000): string {
  const what = `${runner.label} ${args[0]}`;
  const o = runner.run(args, input, timeoutMs);
  if (o.error || o.signal || o.status !== 0) {
    throw new EnvironmentError(`${what} failed: ${failureOf(o)}`, { input: runner.input });
  }
  return o.stdout;
}

/** CPUID (every leaf and sub-leaf the helper knows), XGETBV, AT_MINSIGSTKSZ, MXCSR_MASK, uname. */
export function nativeCpuid(opts: { cpu?: number } = {}, runner = nativeRunner()): HelperCpuid {
  const args = ["cpuid"];
  if (opts.cpu !== undefined) args.push("--cpu", String(opts.cpu));
  return decodeCpuidOutput(runChecked(runner, args), `${runner.label} cpuid`);
}

/** The frame a plain signal gets; `amx`: in a task that requested tile data and loaded tiles. */
export function nativeFrame(runner = nativeRunner(), amx = false): FrameSeen {
  return decodeFrameOutput(runChecked(runner, amx ? ["frame", "--amx"] : ["frame"]), `${runner.label} frame`);
}

/** This machine as a profile: CPUID, XCR0, XINUSE, kernel, AT_MINSIGSTKSZ, MXCSR_MASK, the frame. */
export function nativeHostProfile(): Profile {
  return nativeHostCapture().profile;
}

/** The profile plus the helper's raw answers (register set, the frame's bytes). */
export function nativeHostCapture(runner = nativeRunner()): ProbeCapture {
  const c = nativeCpuid({}, runner);
  const f = nativeFrame(runner);
  const cap = helperCapture(c, f);
  // Where XCR0 has AMX tile data, the frame of a task that uses it too (native/amx.c).
  if (c.xcr0 !== undefined && hasBit(c.xcr0, XFEATURE.XTILEDATA)) {
    try {
      const a = nativeFrame(runner, true);
      if (a.sw && a.sw.magic1 === FP_XSTATE_MAGIC1) {
        cap.profile.observedAmx = {
          xstateSize: a.sw.xstateSize,
          extendedSize: a.sw.extendedSize,
          xfeatures: a.sw.xfeatures,
          fpstateOffset: a.fpstateOffset,
        };
        if (a.xstateBv !== undefined) cap.profile.observedAmx.xstateBv = a.xstateBv;
      }
    } catch (e) {
      cap.profile.notes.push(`no AMX frame: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return cap;
}

/** HOST_PROVIDERS entry (profile-source.ts): the helper when it can run here, else nothing (the fallbacks take over). */
export const nativeHostProvider = {
  name: "native helper",
  capture(): Profile | undefined {
    return helperStatus().ok ? nativeHostProfile() : undefined;
  },
};

export interface ProbeRunOptions {
  timeoutMsPerCase?: number;
  isa?: Isa;
}

/** The helper's `probe` arguments. */
export function probeArgs(opts: ProbeRunOptions = {}): string[] {
  const args = ["probe", "--timeout-ms", String(opts.timeoutMsPerCase ?? 5000)];
  if (opts.isa) args.push("--isa", opts.isa);
  return args;
}

/** Runs cases through the helper, each in its own child, with `initial` loaded before the signal. */
export function nativeProbe(
  cases: readonly ProbeCase[],
  initial: RegImage,
  opts: ProbeRunOptions = {},
  runner = nativeRunner(),
): ProbeRun {
  const timeout = 30_000 + cases.length * (opts.timeoutMsPerCase ?? 5000);
  const out = runChecked(runner, probeArgs(opts), encodeCases(cases, initial), timeout);
  const run = decodeProbeOutput(out, `${runner.label} probe`);
  if (!run.complete) {
    throw new EnvironmentError(`${runner.label} probe stopped before the end of its output`, {
      input: runner.input,
    });
  }
  return run;
}
