/** `sigframe matrix P…|DIR`: the check verdict for every ordered pair of hosts. */
import type { Command } from "commander";
import { type MatrixRequest, matrixCsv, matrixJson, matrixReport } from "../core/compat/fleet-report.ts";
import type { MatrixResult } from "../core/compat/index.ts";
import { hex, toJson } from "../core/hex.ts";
import { fleetEnv } from "./baseline.ts";
import type { CliContext } from "./context.ts";
import { oneFormat } from "./options.ts";
import { renderTable } from "./render/table.ts";

const SHORT = { compatible: "ok", warnings: "warn", incompatible: "FAIL" } as const;

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

interface MatrixOutput {
  json?: boolean;
  csv?: boolean;
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
    .action(async (args: string[], flags: Omit<MatrixRequest, "profiles"> & MatrixOutput) => {
      oneFormat(flags as Record<string, unknown>, ["json", "csv"]);
      const { matrix: m, note } = await matrixReport({ ...flags, profiles: args }, fleetEnv(ctx));
      if (note) ctx.warn(note);
      if (flags.json) ctx.out(toJson(matrixJson(m)));
      else if (flags.csv) ctx.io.stdout(matrixCsv(m));
      else ctx.out(renderMatrix(ctx, m));
    });
}
