/** `sigframe check --from A --to B`: will the FPU/vector state restore correctly on B? */
import type { Command } from "commander";
import { criuWords, hostsCheckInput } from "../core/compat/hosts.ts";
import {
  type CheckResult,
  checkCompat,
  FINDING_CODES,
  type Finding,
  type Severity,
} from "../core/compat/index.ts";
import { UsageError } from "../core/errors.ts";
import { hex, toJson } from "../core/hex.ts";
import { displayName, type Profile } from "../core/profile.ts";
import type { CheckpointFrames } from "../core/scan/cases.ts";
import { choosePolicies, POLICIES, withDestinationKernel } from "../core/sigreturn/index.ts";
import { profileLayout } from "../core/xsave/options.ts";
import { componentNames } from "../core/xsave/report.ts";
import { loadProfile } from "../node/profile-source.ts";
import { loadCheckpointFrames } from "../node/scan-target.ts";
import type { CliContext } from "./context.ts";
import { kernelOption, u64Option } from "./options.ts";
import { renderTable } from "./render/table.ts";

interface CheckFlags {
  from?: string;
  to?: string;
  kernel?: string;
  policy?: string;
  uses?: string;
  restorer?: string;
  checkpoint?: string;
  core?: string;
  json?: boolean;
  measure?: boolean;
}

function restorersOption(text: string | undefined): ("criu" | "raw-copy")[] | undefined {
  if (text === undefined) return undefined;
  const list = text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (list.length === 1 && list[0] === "none") return [];
  for (const r of list)
    if (r !== "criu" && r !== "raw-copy")
      throw new UsageError(`expected criu, raw-copy or none, got ${JSON.stringify(r)}`, {
        input: "--restorer",
      });
  return list as ("criu" | "raw-copy")[];
}

/** The JSON document of the contract (`check --json`). */
function checkJson(r: CheckResult, note?: string): Record<string, unknown> {
  const policies: Record<string, unknown> = {};
  for (const p of POLICIES) {
    const x = r.policies[p];
    policies[p] = {
      verdict: x.verdict,
      selected: x.selected,
      kernels: x.kernels,
      frames: x.frames.map((f) => ({
        frame: f.frame,
        style: f.style,
        path: f.path,
        signal: f.signal,
        reason: f.reason,
        detail: f.detail,
        intact: f.intact,
        components: f.components.map((c) => ({
          bit: c.bit,
          name: c.name,
          fate: c.fate,
          ...(c.expectedOffset >= 0 ? { offset: c.expectedOffset } : {}),
          ...(c.readFrom !== undefined ? { readFrom: c.readFrom } : {}),
        })),
      })),
    };
  }
  const doc: Record<string, unknown> = {
    verdict: r.verdict,
    exitCode: r.exitCode,
    from: r.from,
    to: r.to,
    uses: r.uses,
    evaluated: r.evaluated,
    findings: r.findings,
    policies,
    criu: {
      wouldAccept: r.criu.wouldAccept,
      reason: r.criu.reason,
      failures: r.criu.failures,
      assessment: r.criu.assessment,
      image: r.criu.image,
      host: r.criu.host,
    },
    frames: r.frames,
  };
  if (note) doc.note = note;
  return doc;
}

const SECTION: Record<Severity, string> = { error: "ERRORS", warning: "WARNINGS", info: "INFO" };

/** The human report: hosts, findings grouped by severity, per-policy verdicts, CRIU's answer. */
function renderCheck(ctx: CliContext, r: CheckResult, note?: string): string {
  const { c } = ctx;
  const lines: string[] = [];
  lines.push(c.bold(`check: ${r.from.name} → ${r.to.name}`));
  const host = (label: string, h: CheckResult["from"]) =>
    `  ${label}  ${h.name}: ${h.vendor}, XCR0 ${hex(h.xcr0)}, ${h.xsave ? `user_size ${h.userSize}` : "FXSAVE only"}`;
  lines.push(host("from", r.from));
  lines.push(host("to  ", r.to));
  lines.push(`  uses  ${hex(r.uses)} (${componentNames(r.uses)})`);
  const all = r.evaluated.length === 3;
  lines.push(
    `  kernel policies  ${r.evaluated.join(", ")}${all ? " (all: pass --kernel or --policy to choose)" : ""}`,
  );
  if (note) lines.push(c.dim(`  note: ${note}`));
  const colour = (s: Severity, t: string) =>
    s === "error" ? c.red(t) : s === "warning" ? c.yellow(t) : c.dim(t);
  for (const sev of ["error", "warning", "info"] as Severity[]) {
    const fs = r.findings.filter((f) => f.severity === sev);
    if (fs.length === 0) continue;
    lines.push("");
    lines.push(colour(sev, `${SECTION[sev]} (${fs.length})`));
    const rows = fs.map((f: Finding) => [
      colour(sev, f.code),
      f.component ?? "-",
      f.policies && f.policies.length < 3 ? f.policies.join(",") : f.policies ? "all" : "-",
      f.frames?.join(",") ?? "-",
      f.message,
    ]);
    lines.push(
      renderTable(
        [
          { header: "code" },
          { header: "component" },
          { header: "policies" },
          { header: "frames" },
          { header: "what happens" },
        ],
        rows,
        "  ",
      ),
    );
    const codes = [...new Set(fs.map((f) => f.code))];
    for (const code of codes) lines.push(c.dim(`  ${code}: ${FINDING_CODES[code].hint}`));
  }
  if (r.findings.length === 0) {
    lines.push("");
    lines.push(
      c.green("no findings: every evaluated frame restores every component from where it was written"),
    );
  }
  lines.push("");
  lines.push(
    `by policy: ${POLICIES.map((p) => {
      const x = r.policies[p];
      return `${p} ${x.verdict}${x.selected ? "" : " (not selected)"}`;
    }).join(", ")}`,
  );
  const criu = criuWords(r.criu);
  lines.push(`CRIU 'cpuinfo check' (--cpu-cap=fpu): ${criu.answer}: ${r.criu.reason} (${criu.assessment})`);
  const v =
    r.verdict === "compatible"
      ? c.green(r.verdict)
      : r.verdict === "warnings"
        ? c.yellow(r.verdict)
        : c.red(r.verdict);
  lines.push(c.bold(`verdict: ${v} (exit ${r.exitCode})`));
  return lines.join("\n");
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command("check")
    .summary("will state restore correctly on the destination?")
    .description(
      "For the state a process on host A can have, against host B's layout and B's kernel: what happens to kernel-written signal frames from A restored on B, and to the thread state a restorer rebuilds (CRIU: per-component relocation; raw copy: gVisor). Findings per component and per kernel policy, beside what CRIU's 'cpuinfo check' would say.\n\nExit codes: 0 compatible, 1 warnings only, 3 incompatible. Finding codes: docs/findings.md.",
    )
    .option(
      "--from <PROFILE>",
      "source host: host, built-in name, or profile file (with --checkpoint/--core: default the CPU the image records)",
    )
    .requiredOption("--to <PROFILE>", "destination host")
    .option("--kernel <K>", "destination kernel X.Y[.Z][-rcN] (mapped to its sigreturn policy)")
    .option("--policy <P>", "destination sigreturn policy: legacy, classic or refined")
    .option(
      "--uses <MASK>",
      "components the process uses (xstate_bv); default: all A enables but MPX and AMX",
    )
    .option(
      "--restorer <LIST>",
      "restorer-built frames to evaluate: criu, raw-copy (comma-separated) or none",
    )
    .option("--checkpoint <DIR>", "take A and the frames from a CRIU checkpoint")
    .option("--core <FILE>", "take A and the frames from an ELF core file")
    .option("--no-measure", "with --to host: use the kernel release table instead of probing the kernel")
    .option("--json", "JSON output")
    .action(async (flags: CheckFlags) => {
      const kernel = kernelOption(flags.kernel);
      const chosen = choosePolicies(flags.policy, kernel);
      const uses = u64Option(flags.uses, "--uses");
      const restorers = restorersOption(flags.restorer);
      if (flags.checkpoint !== undefined && flags.core !== undefined)
        throw new UsageError("give --checkpoint or --core, not both", { input: "--core" });
      const pb = loadProfile(flags.to!);
      const lb = profileLayout(pb, kernel ? { kernel } : {});
      let pol = withDestinationKernel(chosen, pb.kernel);
      if (flags.to === "host" && !chosen.policies && flags.measure !== false) {
        // This machine can say which policy its kernel implements: ask it (sigframe probe, < 1 s).
        const { measuredHostPolicy } = await import("../node/probe.ts");
        const measured = measuredHostPolicy();
        if (measured) pol = measured;
      }
      let pa: Profile | undefined;
      let taken: CheckpointFrames | undefined;
      const which =
        flags.checkpoint !== undefined ? "checkpoint" : flags.core !== undefined ? "core" : undefined;
      if (which) {
        const path = (which === "checkpoint" ? flags.checkpoint : flags.core)!;
        const fromArg = flags.from === "-" ? undefined : flags.from;
        pa = fromArg ? loadProfile(fromArg) : undefined;
        const la0 = pa ? profileLayout(pa) : undefined;
        taken = await loadCheckpointFrames(which, path, la0, lb);
        pa = pa ?? taken.profile;
      } else {
        if (flags.from === undefined)
          throw new UsageError("give --from PROFILE (or --checkpoint/--core)", { input: "--from" });
        pa = loadProfile(flags.from);
      }
      if (!pa) throw new UsageError("the source host is not known: pass --from", { input: "--from" });
      const amx = uses !== undefined && (uses >> 18n) & 1n ? { amx: true } : {};
      const input = hostsCheckInput(
        { profile: pa, layout: profileLayout(pa, amx), name: displayName(pa, flags.from ?? pa.name) },
        { profile: pb, layout: lb, name: displayName(pb, flags.to!) },
      );
      if (pol.policies) input.policies = pol.policies;
      const u = uses ?? taken?.uses;
      if (u !== undefined) input.uses = u;
      if (taken) input.frames = taken.frames;
      if (restorers) input.restorers = restorers;
      const r = checkCompat(input);
      const note = [pol.note, ...(taken?.notes ?? [])].filter(Boolean).join("; ") || undefined;
      if (flags.json) ctx.out(toJson(checkJson(r, note)));
      else ctx.out(renderCheck(ctx, r, note));
      ctx.setExit(r.exitCode);
    });
}
