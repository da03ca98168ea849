/** `sigframe check --from A --to B`: will the FPU/vector state restore correctly on B? */
import type { Command } from "commander";
import {
  type CheckEnv,
  type CheckReport,
  type CheckRequest,
  checkHosts,
  checkJson,
  criuWords,
} from "../core/compat/check-hosts.ts";
import { FINDING_CODES, type Finding, type Severity } from "../core/compat/index.ts";
import { hex, toJson } from "../core/hex.ts";
import { POLICIES } from "../core/sigreturn/index.ts";
import { componentNames } from "../core/xsave/report.ts";
import { loadProfile } from "../node/profile-arg.ts";
import type { CliContext } from "./context.ts";
import { renderTable } from "./render/table.ts";

const SECTION: Record<Severity, string> = { error: "ERRORS", warning: "WARNINGS", info: "INFO" };

/** The human report: hosts, findings grouped by severity, per-policy verdicts, CRIU's answer. */
function renderCheck(ctx: CliContext, r: CheckReport): string {
  const { c } = ctx;
  const lines: string[] = [];
  lines.push(c.bold(`check: ${r.from.name} → ${r.to.name}`));
  const host = (label: string, h: CheckReport["from"]) =>
    `  ${label}  ${h.name}: ${h.cpu ?? h.vendor}, XCR0 ${hex(h.xcr0)}, ${h.xsave ? `user_size ${h.userSize}` : "FXSAVE only"}`;
  lines.push(host("from", r.from));
  lines.push(host("to  ", r.to));
  lines.push(`  uses  ${hex(r.uses)} (${componentNames(r.uses)})`);
  lines.push(
    `  signal frames  up to ${r.from.frameBytes} bytes of stack on ${r.from.name} (AT_MINSIGSTKSZ ${r.from.atMinSigStkSz}), up to ${r.to.frameBytes} on ${r.to.name} (AT_MINSIGSTKSZ ${r.to.atMinSigStkSz})`,
  );
  const all = r.evaluated.length === 3;
  lines.push(
    `  kernel policies  ${r.evaluated.join(", ")}${all ? " (all: pass --kernel or --policy to choose)" : ""}`,
  );
  if (r.note) lines.push(c.dim(`  note: ${r.note}`));
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
      "For the state a process on host A can have, against host B's layout and B's kernel: what happens to kernel-written signal frames from A restored on B, and to the thread state a restorer rebuilds (CRIU: per-component relocation; raw copy: gVisor). Findings per component and per kernel policy, beside what CRIU's 'cpuinfo check' would say.\n\nExit codes: 0 compatible, 1 warnings only, 3 incompatible, 2 bad input or usage, 4 the environment cannot do it (--to host without the native helper). Finding codes: docs/findings.md.",
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
    .option(
      "--checkpoint <PATH>",
      "take A and the frames from a CRIU checkpoint: image directory or archive (tar, plain/gzip/zstd)",
    )
    .option("--core <FILE>", "take A and the frames from an ELF core (plain, or zstd/xz/lz4-compressed)")
    .option(
      "--amx",
      "the restorer requests AMX permission again on the destination (ARCH_REQ_XCOMP_PERM): its tasks have tile data, user_size as an AMX task's",
    )
    .option("--no-measure", "with --to host: use the kernel release table instead of probing the kernel")
    .option("--json", "JSON output")
    .action(async (flags: CheckRequest & { json?: boolean }) => {
      // --checkpoint/--core: the image readers and the scanner are loaded only then; --to host: the
      // probe tells which policy this kernel implements (loaded only then).
      const env: CheckEnv = {
        loadProfile,
        checkpointFrames: async (...args) =>
          (await import("../node/checkpoint-frames.ts")).loadCheckpointFrames(...args),
      };
      if (flags.to === "host" && flags.measure !== false)
        env.measurePolicy = (await import("../node/probe.ts")).measuredHostPolicy;
      const r = await checkHosts(flags, env);
      ctx.out(flags.json ? toJson(checkJson(r)) : renderCheck(ctx, r));
      ctx.setExit(r.exitCode);
    });
}
