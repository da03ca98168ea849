/** `sigframe matrix P…|DIR`: the check verdict for every ordered pair of hosts. */
import type { Command } from "commander";
import { type MatrixResult, matrix } from "../core/compat/index.ts";
import { hex, toJson } from "../core/hex.ts";
import { choosePolicies, predict } from "../core/sigreturn/index.ts";
import { loadHosts } from "./baseline.ts";
import type { CliContext } from "./context.ts";
import { kernelOption, oneFormat } from "./options.ts";
import { renderTable } from "./render/table.ts";

const SHORT = { compatible: "ok", warnings: "warn", incompatible: "FAIL" } as const;

function matrixJson(m: MatrixResult): Record<string, unknown> {
  return {
    policies: m.policies,
    hosts: m.hosts.map((name, i) => ({ name, group: m.groups[m.groupOf[i]!]!.id })),
    groups: m.groups,
    cells: m.cells.map((row, i) =>
      row.map((cell, j) => ({ from: m.groups[i]!.id, to: m.groups[j]!.id, ...cell })),
    ),
  };
}

function csvCell(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Host × host, one verdict per cell (rows: from, columns: to). */
function matrixCsv(m: MatrixResult): string {
  const lines = [["from\\to", ...m.hosts].map(csvCell).join(",")];
  m.hosts.forEach((h, i) => {
    const row = m.hosts.map((_, j) => m.cells[m.groupOf[i]!]![m.groupOf[j]!]!.verdict);
    lines.push([h, ...row].map(csvCell).join(","));
  });
  return `${lines.join("\n")}\n`;
}

function renderMatrix(ctx: CliContext, m: MatrixResult): string {
  const { c } = ctx;
  const lines: string[] = [];
  const grouped = m.groups.some((g) => g.members.length > 1);
  const label = (i: number) => (grouped ? m.groups[i]!.id : m.groups[i]!.members[0]!);
  lines.push(
    c.bold(
      `${m.hosts.length} host${m.hosts.length === 1 ? "" : "s"}, ${m.groups.length} distinct layout${m.groups.length === 1 ? "" : "s"}; policies ${m.policies.join(", ")} (rows: from, columns: to)`,
    ),
  );
  const paint = (v: keyof typeof SHORT) =>
    v === "compatible" ? c.green(SHORT[v]) : v === "warnings" ? c.yellow(SHORT[v]) : c.red(SHORT[v]);
  lines.push("");
  lines.push(
    renderTable(
      [{ header: "from \\ to" }, ...m.groups.map((_, j) => ({ header: label(j), align: "right" as const }))],
      m.cells.map((row, i) => [label(i), ...row.map((cell) => paint(cell.verdict))]),
      "  ",
    ),
  );
  if (grouped) {
    lines.push("");
    lines.push(
      renderTable(
        [
          { header: "layout" },
          { header: "XCR0" },
          { header: "user_size", align: "right" },
          { header: "hosts" },
        ],
        m.groups.map((g) => [
          g.id,
          hex(g.xcr0),
          String(g.userSize),
          g.members.length > 4
            ? `${g.members.slice(0, 4).join(", ")} and ${g.members.length - 4} more`
            : g.members.join(", "),
        ]),
        "  ",
      ),
    );
  }
  const counts = { compatible: 0, warnings: 0, incompatible: 0 };
  for (let i = 0; i < m.hosts.length; i++)
    for (let j = 0; j < m.hosts.length; j++) counts[m.cells[m.groupOf[i]!]![m.groupOf[j]!]!.verdict]++;
  lines.push("");
  lines.push(
    `host pairs: ${counts.compatible} compatible, ${counts.warnings} with warnings, ${counts.incompatible} incompatible`,
  );
  return lines.join("\n");
}

interface MatrixFlags {
  json?: boolean;
  csv?: boolean;
  policy?: string;
  kernel?: string;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command("matrix")
    .summary("N×N compatibility")
    .description(
      "The 'check' verdict for every ordered pair of hosts (rows: source, columns: destination). Hosts with identical layouts are grouped first. A folder stands for every profile in it.",
    )
    .argument("<PROFILE...>", "host, built-in names, profile files or folders")
    .option("--policy <P>", "judge by one sigreturn policy: legacy, classic or refined")
    .option("--kernel <K>", "judge by the policy of destination kernel X.Y[.Z]")
    .option("--json", "JSON output")
    .option("--csv", "CSV: host × host verdicts")
    .action(async (args: string[], flags: MatrixFlags) => {
      oneFormat(flags as Record<string, unknown>, ["json", "csv"]);
      const kernel = kernelOption(flags.kernel);
      const pol = choosePolicies(flags.policy, kernel);
      const hosts = await loadHosts(ctx, args);
      const opts: Parameters<typeof matrix>[1] = { predict };
      if (pol.policies) opts.policies = pol.policies;
      const m = matrix(hosts, opts);
      if (pol.note) ctx.warn(pol.note);
      if (flags.json) ctx.out(toJson(matrixJson(m)));
      else if (flags.csv) ctx.io.stdout(matrixCsv(m));
      else ctx.out(renderMatrix(ctx, m));
    });
}
