/** `sigframe probe`: run frame cases on the running kernel, compare with the model, name the policy. */
import type { Command } from "commander";
import { hex, toJson } from "../core/hex.ts";
import { PROBE_POLICIES } from "../core/probe/analyze.ts";
import { hostCases, probeJson } from "../core/probe/report.ts";
import { computeLayout } from "../core/xsave/layout.ts";
import { type ProbeReport, parseCaseList, runProbe, selectCases } from "../node/probe.ts";
import { hostProfile } from "../node/profile-source.ts";
import type { CliContext } from "./context.ts";
import { renderTable } from "./render/table.ts";

interface ProbeFlags {
  json?: boolean;
  cases?: string;
  list?: boolean;
}

const LEGEND =
  "letters: XMM YMMH ZMMH HI16 K MXCSR, then TILECFG TILEDATA for amx cases that load tiles; F frame pattern, A value before the signal, 0 init, C compacted-form pattern, M frame bytes that are not the pattern (e.g. magic2), ? other, - no such registers; amx delivery cases: xstate_size/xfeatures/tile bits in xstate_bv; perm = ARCH_REQ_XCOMP_PERM, sas = sigaltstack()";

function renderProbe(ctx: CliContext, r: ProbeReport): string {
  const { c } = ctx;
  const v = r.verdict;
  const p = r.profile;
  const lines: string[] = [];
  lines.push(
    c.bold(`kernel ${r.kernel}`) +
      `   ${p.brand ?? p.vendor}   ${r.isa} registers   XCR0 ${hex(r.layout.xcr0)}   user_size ${r.layout.userSize}`,
  );
  lines.push(c.dim(LEGEND), "");
  const rows: string[][] = [];
  for (const cr of r.results) {
    if (cr.skipped || !cr.predictions) continue;
    const obs = cr.observed ?? "?";
    const cells = PROBE_POLICIES.map((pol) => {
      const letters = cr.predictions![pol].letters;
      return letters === obs ? letters : c.yellow(letters);
    });
    const ok = cr.editApplied !== false && obs === cr.predictions[v.comparedWith].letters;
    rows.push([cr.id, obs, ...cells, ok ? c.green("ok") : c.red("MISMATCH")]);
  }
  lines.push(
    renderTable(
      [
        { header: "case" },
        { header: "observed" },
        ...PROBE_POLICIES.map((pol) => ({ header: pol })),
        { header: `match (${v.comparedWith})` },
      ],
      rows,
    ),
  );
  const skipped = r.results.filter((x) => x.skipped);
  if (skipped.length) {
    lines.push("", "skipped:");
    for (const s of skipped) lines.push(`  ${s.id}: ${s.skipped}`);
  }
  lines.push("");
  const ran = rows.length;
  const others = PROBE_POLICIES.filter((pol) => pol !== v.comparedWith)
    .map((pol) => `${pol}: ${v.byPolicy[pol].length} mismatch${v.byPolicy[pol].length === 1 ? "" : "es"}`)
    .join(", ");
  if (v.policy !== "unknown") {
    lines.push(c.bold(`policy: ${v.policy}`) + ` (all ${ran} cases match the ${v.policy} model; ${others})`);
  } else if (v.candidates.length > 1) {
    lines.push(
      c.bold("policy: unknown") +
        ` (all ${ran} cases match ${v.candidates.join(" and ")}: the cases run do not tell them apart)`,
    );
  } else {
    lines.push(
      c.bold(c.red("policy: unknown")) +
        ` (no policy matches every case; closest ${v.comparedWith} with ${v.mismatches} mismatch${v.mismatches === 1 ? "" : "es"}: ${v.byPolicy[v.comparedWith].join(", ")})`,
    );
  }
  if (r.expected) {
    lines.push(
      `kernel table for ${r.kernel}: ${r.expected.policies.join(" or ")}${r.expected.note ? ` (${r.expected.note})` : ""}`,
    );
  }
  for (const w of r.warnings) lines.push(c.yellow(`warning: ${w}`));
  return lines.join("\n");
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command("probe")
    .description("run frame cases on the running kernel; compare with the model; name the kernel's policy")
    .option("--json", "JSON output")
    .option("--cases <LIST>", "comma-separated case ids to run (default: all)")
    .option("--list", "list the cases and whether they apply to this CPU, without running them")
    .action((flags: ProbeFlags) => {
      const ids = parseCaseList(flags.cases);
      if (flags.list) {
        const p = hostProfile();
        const l = computeLayout(p);
        const cases = selectCases(hostCases(p, l), ids);
        if (flags.json) {
          ctx.out(
            toJson(
              cases.map((x) => ({
                id: x.id,
                description: x.description,
                ...(x.skip ? { skip: x.skip } : {}),
              })),
            ),
          );
        } else {
          ctx.out(
            renderTable(
              [{ header: "case" }, { header: "description" }],
              cases.map((x) => [
                x.id,
                x.skip ? `${x.description} ${ctx.c.dim(`(skipped: ${x.skip})`)}` : x.description,
              ]),
            ),
          );
        }
        return;
      }
      const report = runProbe(ids ? { cases: ids } : {});
      ctx.out(flags.json ? toJson(probeJson(report)) : renderProbe(ctx, report));
      if (report.verdict.mismatches > 0) ctx.setExit(1);
    });
}
