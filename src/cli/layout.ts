/** `sigframe layout`, `sigframe diff`, `sigframe profiles`. */
import type { Command } from "commander";
import { toJson } from "../core/hex.ts";
import { describeProfile, type Profile } from "../core/profile.ts";
import { profileToJson } from "../core/profiles/to-json.ts";
import type { XsaveLayout } from "../core/xsave/layout.ts";
import {
  builtinProfileRows,
  componentRows,
  type DiffReport,
  type DiffRequest,
  diffJson,
  diffReport,
  diffSummary,
  type LayoutRequest,
  layoutHeader,
  layoutJson,
  layoutReport,
  type ProfilesJson,
} from "../core/xsave/report.ts";
import { refuseOutputOverInput, writeOutputAtomic } from "../node/files.ts";
import { loadProfile } from "../node/profile-arg.ts";
import type { CliContext } from "./context.ts";
import { oneFormat } from "./options.ts";
import { renderTable } from "./render/table.ts";

/** The output choices of `layout` and `diff`. */
interface LayoutOutput {
  json?: boolean;
  svg?: boolean;
  saveProfile?: string;
}

interface DiffOutput extends LayoutOutput {
  failOnDifference?: boolean;
}

export function renderLayout(ctx: CliContext, p: Profile, l: XsaveLayout): string {
  const { c } = ctx;
  const head = layoutHeader(p, l);
  const lines: string[] = [c.bold(head.title), head.sizes, head.frame, head.stack, ""];
  const colour = { "in frames": c.green, supervisor: c.dim, "not enabled": c.yellow };
  const rows = componentRows(l).map((x) => {
    const state = colour[x.state](x.state);
    return [
      String(x.bit),
      x.name,
      String(x.size),
      x.offset,
      x.compacted,
      x.flags,
      x.reason ? `${state}: ${x.reason}` : state,
    ];
  });
  lines.push(
    renderTable(
      [
        { header: "bit", align: "right" },
        { header: "component" },
        { header: "size", align: "right" },
        { header: "offset", align: "right" },
        { header: "compacted", align: "right" },
        { header: "flags" },
        { header: "state" },
      ],
      rows,
    ),
  );
  for (const n of p.notes) lines.push(c.dim(`note: ${n}`));
  for (const w of l.warnings) lines.push(c.yellow(`warning: ${w}`));
  return lines.join("\n");
}

function renderDiff(ctx: CliContext, r: DiffReport): string {
  const { c } = ctx;
  const lines = [
    `A ${r.a.profile.name}: XCR0 ${r.diff.a.xcr0}, user_size ${r.diff.a.userSize}`,
    `B ${r.b.profile.name}: XCR0 ${r.diff.b.xcr0}, user_size ${r.diff.b.userSize}`,
    "",
  ];
  const colour = (s: string) =>
    s === "same" ? c.green(s) : s.startsWith("different") ? c.red(s) : c.yellow(s);
  lines.push(
    renderTable(
      [
        { header: "bit", align: "right" },
        { header: "component" },
        { header: "A offset+size" },
        { header: "B offset+size" },
        { header: "status" },
      ],
      r.diff.components.map((x) => [
        String(x.bit),
        x.name,
        x.a ? `${x.a.offset}+${x.a.size}` : "-",
        x.b ? `${x.b.offset}+${x.b.size}` : "-",
        colour(x.status),
      ]),
    ),
  );
  lines.push("");
  lines.push(diffSummary(r.diff));
  return lines.join("\n");
}

/** The SVG renderer loads with --svg only. */
const svg = async () => (await import("../core/xsave/svg.ts")).layoutSvg;

async function diffSvg(r: DiffReport): Promise<string> {
  return (await svg())(
    [
      { label: r.a.profile.name, layout: r.a.layout },
      { label: r.b.profile.name, layout: r.b.layout },
    ],
    `XSAVE layouts: ${r.a.profile.name} vs ${r.b.profile.name}`,
  );
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command("layout")
    .summary("the XSAVE layout and signal-frame sizes of a CPU")
    .description(
      "Show the XSAVE layout of PROFILE: every component with its size, standard and compacted offset, and whether Linux saves it in signal frames; plus user_size (the frames' xstate_size).\n\nPROFILE: host, a built-in name (sigframe profiles), or a file (cpuid -r output, sigframe-profile JSON, cpuid-corpus JSON, CRIU cpuinfo.img, ELF core).",
    )
    .argument("<PROFILE>", "host, built-in name, or profile file")
    .option("--kernel <K>", "compute for Linux X.Y[.Z] (feature support by version)")
    .option(
      "--xcr0 <MASK>",
      "force the XCR0 user features (a value XSETBV takes, with x87 and SSE); bits the CPU or --kernel cannot enable are dropped with a warning",
    )
    .option("--amx", "the task has enabled AMX tile data (ARCH_REQ_XCOMP_PERM)")
    .option("--cpu-index <N>", "CPU block of a multi-CPU 'cpuid -r' dump")
    .option("--json", "JSON output")
    .option("--svg", "SVG byte map")
    .option("--save-profile <FILE>", "write the profile as sigframe-profile/1 JSON")
    .action(async (arg: string, flags: Omit<LayoutRequest, "profile"> & LayoutOutput) => {
      oneFormat(flags as Record<string, unknown>, ["json", "svg"]);
      const env = { loadProfile, checkOutput: refuseOutputOverInput };
      const { profile: p, layout: l } = await layoutReport({ ...flags, profile: arg }, env);
      if (flags.saveProfile)
        writeOutputAtomic(flags.saveProfile, `${toJson(profileToJson(p))}\n`, (s) => ctx.io.stdout(s));
      if (flags.json) ctx.out(toJson(layoutJson(l)));
      else if (flags.svg)
        ctx.io.stdout((await svg())([{ label: p.name, layout: l }], `XSAVE layout: ${describeProfile(p)}`));
      else if (flags.saveProfile !== "-") ctx.out(renderLayout(ctx, p, l));
    });

  program
    .command("diff")
    .summary("per-component layout differences between two CPUs")
    .description(
      "Compare the XSAVE layouts of two profiles component by component: only in A, only in B, same, different offset, different size; and the two user_sizes.",
    )
    .argument("<A>", "first profile")
    .argument("<B>", "second profile")
    .option("--kernel <K>", "compute both for Linux X.Y[.Z]")
    .option("--amx", "tasks have enabled AMX tile data")
    .option("--json", "JSON output")
    .option("--svg", "SVG byte maps, one above the other")
    .option("--fail-on-difference", "exit 1 when the layouts differ (as diff(1) and git diff --exit-code)")
    .action(async (a: string, b: string, flags: Omit<DiffRequest, "a" | "b"> & DiffOutput) => {
      oneFormat(flags as Record<string, unknown>, ["json", "svg"]);
      const r = await diffReport({ ...flags, a, b }, { loadProfile });
      if (flags.failOnDifference && !r.diff.identical) ctx.setExit(1);
      if (flags.json) ctx.out(toJson(diffJson(r)));
      else if (flags.svg) ctx.io.stdout(await diffSvg(r));
      else ctx.out(renderDiff(ctx, r));
    });

  program
    .command("profiles")
    .summary("list built-in profiles")
    .option("--json", "JSON output")
    .action((flags: { json?: boolean }) => {
      const rows = builtinProfileRows();
      if (flags.json) {
        ctx.out(toJson({ profiles: rows } satisfies ProfilesJson));
        return;
      }
      ctx.out(
        renderTable(
          [
            { header: "name" },
            { header: "XCR0" },
            { header: "user_size", align: "right" },
            { header: "with AMX", align: "right" },
            { header: "CPU" },
          ],
          rows.map((r) => [r.name, r.xcr0, String(r.userSize), String(r.maxUserSize), r.title]),
        ),
      );
    });
}
