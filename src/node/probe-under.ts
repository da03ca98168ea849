/**
 * `sigframe probe --under 'CMD ARGS'`: the probe run by another Linux-ABI implementation (gVisor's
 * `runsc do`, `qemu-x86_64`, valgrind): the helper is started as the last words of that command
 * line, its CPU and frame are read through it, the cases are computed for what it reports, and
 * every result is compared with what Linux does (the host kernel's policy, measured here).
 *
 * A runtime may die in the middle of a case (a sandbox whose sentry panics, an emulator that
 * aborts): the case is recorded as `crashed` with what the runtime said, and the probe goes on
 * with the next case in a fresh instance.
 */
import { release } from "node:os";
import { splitCommandLine } from "../core/command-line.ts";
import { EnvironmentError } from "../core/errors.ts";
import type { ProbeCase } from "../core/probe/cases.ts";
import {
  type ConformanceReport,
  conformanceReport,
  deliveryDeviations,
  linuxReference,
  type Reference,
} from "../core/probe/conformance.ts";
import { type CaseRun, decodeProbeOutput, encodeCases, type ProbeRun } from "../core/probe/protocol.ts";
import type { RegImage } from "../core/probe/regions.ts";
import { casesToRun, helperCapture, planProbe, probeReport } from "../core/probe/report.ts";
import type { Policy } from "../core/sigreturn/types.ts";
import { computeLayout, type XsaveLayout } from "../core/xsave/layout.ts";
import {
  failureOf,
  fromRuntime,
  type HelperRunner,
  helperStatus,
  nativeCpuid,
  nativeFrame,
  probeArgs,
  spawnRunner,
  staticHelperStatus,
} from "./native.ts";
import { runProbe } from "./probe.ts";

export interface UnderRequest {
  /** The runtime's command line; the helper's path and arguments are appended. */
  under: string;
  cases?: string[];
  /** Recorded frames to hand to the runtime's sigreturn (foreign.ts). */
  extra?: ProbeCase[];
  timeoutMsPerCase?: number;
}

/** The helper to hand to a runtime: the static one where built (no libc needed inside), else the other. */
function helperForRuntime(): { path: string; warning?: string } {
  const s = staticHelperStatus();
  if (s.ok) return { path: s.path };
  const d = helperStatus();
  if (!d.ok) throw new EnvironmentError(d.reason, { input: "--under" });
  return { path: d.path, warning: `${s.reason}; using the dynamically linked helper` };
}

/**
 * Runs the cases through `runner`; where the runtime dies part-way, the case it died in is
 * `crashed` and the rest run again in a new instance. An instance that prints nothing at all ends
 * it (every remaining case crashed, with the reason).
 */
export function runCasesSurviving(
  runner: HelperRunner,
  cases: readonly ProbeCase[],
  initial: RegImage,
  opts: { timeoutMsPerCase?: number } = {},
): ProbeRun {
  const per = opts.timeoutMsPerCase ?? 5000;
  let remaining = [...cases];
  const done: CaseRun[] = [];
  let header: ProbeRun | undefined;
  while (remaining.length > 0) {
    const o = runner.run(probeArgs(opts), encodeCases(remaining, initial), 30_000 + remaining.length * per);
    let run: ProbeRun | undefined;
    try {
      run = decodeProbeOutput(o.stdout, `${runner.label} probe`);
    } catch (e) {
      if (o.stdout.trim() !== "") throw e;
    }
    if (!run) {
      const why = failureOf(o);
      if (!header)
        throw new EnvironmentError(`${runner.label} probe failed: ${why}`, { input: runner.input });
      for (const c of remaining)
        done.push({
          id: c.id,
          outcome: "crashed",
          stderr: `the runtime did not start the helper again: ${why}`,
        });
      break;
    }
    header ??= run;
    done.push(...run.cases);
    if (run.complete && o.status === 0) break;
    const finished = new Set(run.cases.map((c) => c.id));
    const at = run.inFlight
      ? remaining.findIndex((c) => c.id === run.inFlight)
      : remaining.findIndex((c) => !finished.has(c.id));
    if (at < 0) break;
    const status = o.signal ? `was killed by ${o.signal}` : `exited with code ${o.status}`;
    const said = o.stderr.trim().split("\n").filter(Boolean).slice(-3).join(" | ");
    done.push({
      id: remaining[at]!.id,
      outcome: "crashed",
      stderr: `the runtime ${o.error ? o.error : status} during this case${said ? `: ${said}` : ""}`,
    });
    remaining = remaining.slice(at + 1);
  }
  const h = header!;
  return {
    isa: h.isa,
    kBits: h.kBits,
    xcr0: h.xcr0,
    fpstateLimit: h.fpstateLimit,
    cases: done,
    complete: true,
  };
}

/** The policy Linux implements here: measured by the native probe where it runs, else the release table. */
export function hostReference(): Reference {
  let measured: { policy: Policy | "unknown"; kernel: string } | undefined;
  try {
    const r = runProbe();
    measured = { policy: r.verdict.policy, kernel: r.kernel };
  } catch {}
  return linuxReference(release(), measured);
}

/**
 * The task Linux would give frames of the delivered size: the CPU's default layout, or the one
 * with AMX tile data where the runtime delivers frames of that size (its own layout choice is a
 * delivery deviation, reported once, not a deviation in every case).
 */
function taskLayout(defaultLayout: XsaveLayout, amxLayout: XsaveLayout, xstateSize?: number): XsaveLayout {
  if (xstateSize !== undefined && xstateSize !== defaultLayout.userSize && xstateSize === amxLayout.userSize)
    return amxLayout;
  return defaultLayout;
}

export function runProbeUnder(req: UnderRequest): ConformanceReport {
  const argv = splitCommandLine(req.under, "--under");
  const helper = helperForRuntime();
  const runner = spawnRunner([...argv, helper.path], `sigframe-helper under ${req.under}`, "--under", {
    group: true,
  });
  const cpuid = fromRuntime("--under", () => nativeCpuid({}, runner));
  const frame = fromRuntime("--under", () => nativeFrame(runner));
  const capture = helperCapture(cpuid, frame, argv[0]!, `captured by the helper under ${req.under}`);
  const base = computeLayout(capture.profile);
  const layout = taskLayout(base, computeLayout(capture.profile, { amx: true }), frame.sw?.xstateSize);
  const plan = planProbe(capture, {
    layout,
    ...(req.cases ? { cases: req.cases } : {}),
    ...(req.extra ? { extra: req.extra } : {}),
  });
  if (helper.warning) plan.warnings.push(helper.warning);
  if (layout !== base) {
    plan.warnings.push(
      `the runtime delivers frames of ${layout.userSize} bytes, the size of a task with AMX tile data: the model receives them in such a task`,
    );
  }
  const toRun = casesToRun(plan);
  const run = toRun.length
    ? fromRuntime("--under", () =>
        runCasesSurviving(
          runner,
          toRun,
          plan.patterns.A,
          req.timeoutMsPerCase ? { timeoutMsPerCase: req.timeoutMsPerCase } : {},
        ),
      )
    : undefined;
  const report = probeReport(plan, run);
  return conformanceReport(req.under, report, hostReference(), deliveryDeviations(frame, base));
}
