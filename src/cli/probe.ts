/** `sigframe probe`: run frame cases on the running kernel, compare with the model, name the policy. */
import type { Command } from "commander";
import { hex, toJson } from "../core/hex.ts";
import { PROBE_POLICIES } from "../core/probe/analyze.ts";
import { type ConformanceReport, conformanceJson } from "../core/probe/conformance.ts";
import { caseMatches, probeCaseList, probeJson } from "../core/probe/report.ts";
import { foreignCases } from "../node/frame-file.ts";
import { type ProbeReport, parseCaseList, runProbe } from "../node/probe.ts";
import { runProbeUnder } from "../node/probe-under.ts";
import { hostProfile } from "../node/profile-source.ts";
import type { CliContext } from "./context.ts";
import { renderTable } from "./render/table.ts";

interface ProbeFlags {
  json?: boolean;
  cases?: string;
  list?: boolean;
  under?: string;
  foreign?: string[];
}

const LEGEND =
  "letters: XMM YMMH ZMMH HI16 K MXCSR, then TILECFG TILEDATA for amx cases that load tiles; F frame pattern, A value before the signal, 0 init, C compacted-form pattern, M frame bytes that are not the pattern (e.g. magic2), ? other, - no such registers; amx delivery cases: xstate_size/xfeatures/tile bits in xstate_bv; perm = ARCH_REQ_XCOMP_PERM, sas = sigaltstack(); sigaltstack cases: where a signal on it put its frame (frame at ss_sp+N) or SIGSEGV";

/** The machine line above a probe table. */
export function machineLine(ctx: CliContext, r: ProbeReport, what = `kernel ${r.kernel}`): string {
  const p = r.profile;
  return (
    ctx.c.bold(what) +
    `   ${p.brand ?? p.vendor}   ${r.isa} registers   XCR0 ${hex(r.layout.xcr0)}   user_size ${r.layout.userSize}`
  );
}

/** Skipped cases, one line per reason (`a, b, c: reason`). */
function skippedLines(r: ProbeReport): string[] {
  const byReason = new Map<string, string[]>();
  for (const x of r.results)
    if (x.skipped) byReason.set(x.skipped, [...(byReason.get(x.skipped) ?? []), x.id]);
  return [...byReason].map(([why, ids]) => `  ${ids.join(", ")}: ${why}`);
}

/** The probe table and verdict lines (observed, every policy's prediction, match), as `probe` prints them. */
export function renderProbe(ctx: CliContext, r: ProbeReport, header = machineLine(ctx, r)): string {
  const { c } = ctx;
  const v = r.verdict;
  const lines: string[] = [];
  lines.push(header);
  lines.push(c.dim(LEGEND), "");
  const rows: string[][] = [];
  for (const cr of r.results) {
    if (cr.skipped) continue;
    const obs = cr.observed ?? "?";
    const cells = PROBE_POLICIES.map((pol) => {
      const letters = cr.predictions?.[pol].letters ?? "?";
      return letters === obs ? letters : c.yellow(letters);
    });
    rows.push([cr.id, obs, ...cells, caseMatches(cr, v.comparedWith) ? c.green("ok") : c.red("MISMATCH")]);
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
  const skipped = skippedLines(r);
  if (skipped.length) {
    lines.push("", "skipped:", ...skipped);
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

/** `probe --under`: the runtime's table beside Linux's, then every deviation in words. */
function renderUnder(ctx: CliContext, r: ConformanceReport): string {
  const { c } = ctx;
  const p = r.probe;
  const ref = r.reference;
  const refText = `Linux ${ref.policy} (${ref.basis === "measured" ? "measured on this kernel" : "by the kernel table for"} ${ref.kernel}${ref.note ? `; ${ref.note}` : ""})`;
  const lines = [
    machineLine(ctx, p, `under ${r.under}`),
    `reference: ${refText}; the runtime reports kernel ${p.kernel}`,
    c.dim(LEGEND),
    "",
  ];
  const deviating = new Set(r.deviations.map((d) => d.id));
  const rows: string[][] = [];
  for (const cr of p.results) {
    if (cr.skipped) continue;
    const linux = cr.predictions?.[ref.policy].letters ?? "?";
    const bad = deviating.has(cr.id);
    rows.push([
      cr.id,
      bad ? c.yellow(cr.observed ?? "?") : (cr.observed ?? "?"),
      linux,
      bad ? c.red("DEVIATES") : c.green("ok"),
    ]);
  }
  lines.push(
    renderTable(
      [{ header: "case" }, { header: "runtime" }, { header: `Linux (${ref.policy})` }, { header: "" }],
      rows,
    ),
  );
  if (r.deviations.length) {
    lines.push("", c.bold(`deviations from Linux (${r.deviations.length}):`));
    for (const d of r.deviations) {
      lines.push(`  ${c.bold(d.id)}: ${d.description}`);
      lines.push(
        `    Linux:   ${d.linux.observed.padEnd(7)}  ${d.linux.meaning}${d.linux.detail ? ` (${d.linux.detail})` : ""}`,
      );
      lines.push(`    runtime: ${d.runtime.observed.padEnd(7)}  ${d.runtime.meaning}`);
      for (const n of d.runtime.notes) lines.push(c.dim(`             ${n}`));
    }
  }
  if (r.delivery.length) {
    lines.push(
      "",
      c.bold(
        `the delivered frame differs from Linux's in ${r.delivery.length} field${r.delivery.length === 1 ? "" : "s"}:`,
      ),
    );
    for (const d of r.delivery)
      lines.push(
        `  ${d.field}: Linux ${d.linux}, runtime ${d.runtime}${d.note ? c.dim(` (${d.note})`) : ""}`,
      );
  }
  const skipped = skippedLines(p);
  if (skipped.length) {
    lines.push("", "skipped:", ...skipped);
  }
  lines.push("");
  const ran = rows.length;
  if (r.conforms)
    lines.push(
      c.bold(c.green(`${r.under} behaves as Linux in all ${ran} cases and in the frame it delivers`)),
    );
  else {
    const parts = [];
    if (r.deviations.length) parts.push(`${r.deviations.length} of ${ran} cases`);
    if (r.delivery.length)
      parts.push(`${r.delivery.length} field${r.delivery.length === 1 ? "" : "s"} of the delivered frame`);
    lines.push(c.bold(c.yellow(`${r.under} departs from Linux in ${parts.join(" and ")}`)));
  }
  for (const w of p.warnings) lines.push(c.yellow(`warning: ${w}`));
  return lines.join("\n");
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command("probe")
    .description("run frame cases on the running kernel; compare with the model; name the kernel's policy")
    .option("--json", "JSON output")
    .option("--cases <LIST>", "comma-separated case ids to run (default: all)")
    .option("--list", "list the cases and whether they apply to this CPU, without running them")
    .option(
      "--under <CMD>",
      "run the helper under another Linux-ABI runtime (e.g. 'runsc --network=none do', 'qemu-x86_64 -cpu max'; split like a shell does, no shell) and list where it departs from Linux",
    )
    .option(
      "--foreign <FRAME...>",
      "recorded frames (from build, scan, another host) handed to sigreturn as well",
    )
    .action((flags: ProbeFlags) => {
      const ids = parseCaseList(flags.cases);
      const extra = foreignCases(flags.foreign);
      if (flags.under !== undefined && !flags.list) {
        const r = runProbeUnder({
          under: flags.under,
          ...(ids ? { cases: ids } : {}),
          ...(extra.length ? { extra } : {}),
        });
        ctx.out(flags.json ? toJson(conformanceJson(r)) : renderUnder(ctx, r));
        if (!r.conforms) ctx.setExit(1);
        return;
      }
      if (flags.list) {
        const cases = probeCaseList(hostProfile(), ids);
        if (flags.json) ctx.out(toJson(cases));
        else
          ctx.out(
            renderTable(
              [{ header: "case" }, { header: "description" }],
              cases.map((x) => [
                x.id,
                x.skip ? `${x.description} ${ctx.c.dim(`(skipped: ${x.skip})`)}` : x.description,
              ]),
            ),
          );
        return;
      }
      const report = runProbe({ ...(ids ? { cases: ids } : {}), ...(extra.length ? { extra } : {}) });
      ctx.out(flags.json ? toJson(probeJson(report)) : renderProbe(ctx, report));
      if (report.verdict.mismatches > 0) ctx.setExit(1);
    });
}
