/** `sigframe policy-diff P Q`: every representative frame whose sigreturn outcome differs between two policies. */
import type { Command } from "commander";
import {
  type PolicyDiffRequest,
  policyDiffExampleFiles,
  policyDiffJson,
  policyDiffReport,
} from "../core/compat/fleet-report.ts";
import type { PolicyDiffResult } from "../core/compat/index.ts";
import { toJson } from "../core/hex.ts";
import { writeFilesInto } from "../node/files.ts";
import { fleetEnv } from "./baseline.ts";
import type { CliContext } from "./context.ts";
import { renderTable } from "./render/table.ts";

function renderPolicyDiff(ctx: CliContext, r: PolicyDiffResult): string {
  const { c } = ctx;
  const lines: string[] = [];
  lines.push(
    c.bold(
      `${r.p} vs ${r.q}: ${r.differing} of ${r.total} frames differ (${r.layouts} distinct layouts), in ${r.groups.length} group${r.groups.length === 1 ? "" : "s"}`,
    ),
  );
  r.groups.forEach((g, i) => {
    lines.push("");
    lines.push(c.bold(`${i + 1}. ${g.title}`) + `  (${g.count} frame${g.count === 1 ? "" : "s"})`);
    lines.push(
      `   from: ${Object.entries(g.kinds)
        .map(([k, n]) => `${k} ${n}`)
        .join(", ")}`,
    );
    const ex = g.example;
    lines.push(
      `   smallest example: ${ex.frame.description} (xstate_size ${ex.frame.xstateSize}, task ${ex.frame.task})`,
    );
    lines.push(
      renderTable(
        [{ header: "policy" }, { header: "path" }, { header: "reason" }, { header: "lost" }],
        [
          [r.p, ex.p.path, ex.p.reason, ex.lostUnderP.join(", ") || "-"],
          [r.q, ex.q.path, ex.q.reason, ex.lostUnderQ.join(", ") || "-"],
        ],
        "     ",
      ),
    );
  });
  return lines.join("\n");
}

interface DiffFlags extends Omit<PolicyDiffRequest, "p" | "q"> {
  json?: boolean;
  saveExamples?: string;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command("policy-diff")
    .summary("frames whose sigreturn outcome differs between two policies")
    .description(
      "For a change to the sigreturn check: over representative frames (each host's own kernel frame, CRIU-style trimmed frames, every cross-host pair, and the probe's edge cases), every frame whose outcome differs between policy P and policy Q, grouped by cause, largest group first. Hosts: --profiles (files, folders, names), default the built-in profiles.",
    )
    .argument("<P>", "policy: legacy, classic or refined")
    .argument("<Q>", "policy to compare with")
    .option("--profiles <PROFILE...>", "hosts to build frames for (files, folders, built-in names)")
    .option("--json", "JSON output")
    .option("--save-examples <DIR>", "write the smallest example frame of each group into DIR")
    .action(async (p: string, q: string, flags: DiffFlags) => {
      const r = await policyDiffReport({ ...flags, p, q }, fleetEnv(ctx));
      if (flags.saveExamples)
        writeFilesInto(flags.saveExamples, policyDiffExampleFiles(r), (s) => ctx.io.stdout(s));
      ctx.out(flags.json ? toJson(policyDiffJson(r)) : renderPolicyDiff(ctx, r));
    });
}
