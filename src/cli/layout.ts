/** `sigframe layout`, `sigframe diff`, `sigframe profiles`. */
import type { Command } from "commander";
import { hex, toJson } from "../core/hex.ts";
import { describeProfile, type Profile } from "../core/profile.ts";
import { BUILTIN_PROFILES } from "../core/profiles/builtins.ts";
import { profileToJson } from "../core/profiles/to-json.ts";
import { diffLayouts } from "../core/xsave/diff.ts";
import { computeLayout, type LayoutOptions, type XsaveLayout } from "../core/xsave/layout.ts";
import { profileLayout } from "../core/xsave/options.ts";
import { componentRows, diffSummary, layoutHeader } from "../core/xsave/report.ts";
import { layoutSvg } from "../core/xsave/svg.ts";
import { refuseOutputOverInput, writeOutputAtomic } from "../node/files.ts";
import { loadProfile } from "../node/profile-arg.ts";
import type { CliContext } from "./context.ts";
import { kernelOption, oneFormat, sizeOption, xcr0Option } from "./options.ts";
import { renderTable } from "./render/table.ts";

interface LayoutFlags {
  kernel?: string;
  xcr0?: string;
  amx?: boolean;
  json?: boolean;
  svg?: boolean;
  saveProfile?: string;
  cpuIndex?: string;
}

/** Parses the layout flags before any input is read, so a bad flag fails first. */
function parseLayoutFlags(flags: LayoutFlags): LayoutOptions {
  const o: LayoutOptions = {};
  const k = kernelOption(flags.kernel);
  if (k) o.kernel = k;
  const x = xcr0Option(flags.xcr0);
  if (x !== undefined) o.xcr0 = x;
  if (flags.amx) o.amx = true;
  return o;
}

export function layoutJson(l: XsaveLayout): Record<string, unknown> {
  return {
    profile: l.profile,
    kernel: l.kernel ?? null,
    xsave: l.xsave,
    xcr0: hex(l.xcr0),
    xcr0Source: l.xcr0Source,
    ...(l.xcr0Requested !== undefined ? { xcr0Requested: hex(l.xcr0Requested) } : {}),
    userFeatures: hex(l.userFeatures),
    userSize: l.userSize,
    maxUserSize: l.maxUserSize,
    maxSize: l.maxSize,
    frame: l.frame,
    components: l.components.map((c) => ({
      bit: c.bit,
      name: c.name,
      size: c.size,
      offset: c.offset,
      compactedOffset: c.compactedOffset,
      supervisor: c.supervisor,
      align64: c.align64,
      xfd: c.xfd,
      enabled: c.enabled,
      supported: c.supported,
      dynamic: c.dynamic,
      ...(c.reason ? { reason: c.reason } : {}),
    })),
    warnings: l.warnings,
  };
}

export function renderLayout(ctx: CliContext, p: Profile, l: XsaveLayout): string {
  const { c } = ctx;
  const head = layoutHeader(p, l);
  const lines: string[] = [c.bold(head.title), head.sizes, head.frame, ""];
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
    .action(async (arg: string, flags: LayoutFlags) => {
      oneFormat(flags as Record<string, unknown>, ["json", "svg"]);
      const parsed = parseLayoutFlags(flags);
      refuseOutputOverInput(flags.saveProfile, [arg]);
      const readOpts: { cpuIndex?: number } = {};
      const ci = sizeOption(flags.cpuIndex, "--cpu-index");
      if (ci !== undefined) readOpts.cpuIndex = ci;
      const p = await loadProfile(arg, readOpts);
      const l = profileLayout(p, parsed);
      if (flags.saveProfile) {
        writeOutputAtomic(flags.saveProfile, `${toJson(profileToJson(p))}\n`, (s) => ctx.io.stdout(s));
      }
      if (flags.json) ctx.out(toJson(layoutJson(l)));
      else if (flags.svg)
        ctx.io.stdout(layoutSvg([{ label: p.name, layout: l }], `XSAVE layout: ${describeProfile(p)}`));
      else if (!flags.saveProfile || flags.saveProfile !== "-") ctx.out(renderLayout(ctx, p, l));
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
    .action(async (a: string, b: string, flags: LayoutFlags & { failOnDifference?: boolean }) => {
      oneFormat(flags as Record<string, unknown>, ["json", "svg"]);
      const parsed = parseLayoutFlags(flags);
      const pa = await loadProfile(a);
      const pb = await loadProfile(b);
      const la = profileLayout(pa, parsed);
      const lb = profileLayout(pb, parsed);
      const d = diffLayouts(la, lb);
      if (flags.failOnDifference && !d.identical) ctx.setExit(1);
      if (flags.json) {
        ctx.out(toJson(d));
        return;
      }
      if (flags.svg) {
        ctx.io.stdout(
          layoutSvg(
            [
              { label: pa.name, layout: la },
              { label: pb.name, layout: lb },
            ],
            `XSAVE layouts: ${pa.name} vs ${pb.name}`,
          ),
        );
        return;
      }
      const { c } = ctx;
      const lines = [
        `A ${pa.name}: XCR0 ${d.a.xcr0}, user_size ${d.a.userSize}`,
        `B ${pb.name}: XCR0 ${d.b.xcr0}, user_size ${d.b.userSize}`,
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
          d.components.map((x) => [
            String(x.bit),
            x.name,
            x.a ? `${x.a.offset}+${x.a.size}` : "-",
            x.b ? `${x.b.offset}+${x.b.size}` : "-",
            colour(x.status),
          ]),
        ),
      );
      lines.push("");
      lines.push(diffSummary(d));
      ctx.out(lines.join("\n"));
    });

  program
    .command("profiles")
    .summary("list built-in profiles")
    .option("--json", "JSON output")
    .action((flags: { json?: boolean }) => {
      const rows = BUILTIN_PROFILES.map((b) => {
        const p = b.build();
        const l = computeLayout(p);
        return {
          name: b.name,
          title: b.title,
          vendor: p.vendor,
          xcr0: hex(l.xcr0),
          userSize: l.userSize,
          maxUserSize: l.maxUserSize,
        };
      });
      if (flags.json) {
        ctx.out(toJson({ profiles: rows }));
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
