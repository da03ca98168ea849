/**
 * `sigframe translate`: move a frame's XSAVE state from CPU A's standard-format layout to CPU B's,
 * component by component, check that every register reads back, and predict the restore on B
 * (sigframe/translate/report.ts); this module parses the flags and renders the report.
 */
import type { Command } from "commander";
import { hex, toJson } from "../core/hex.ts";
import {
  type TranslateReport,
  type TranslateRequest,
  translateJson,
  translateReport,
} from "../core/sigframe/translate/report.ts";
import type { AreaSizes, TranslationPrediction, UntranslatedRead } from "../core/sigframe/translate/types.ts";
import { refuseOutputOverInput, writeOutputAtomic } from "../node/files.ts";
import { readFrameFile } from "../node/frame-file.ts";
import { loadProfile } from "../node/profile-arg.ts";
import type { CliContext } from "./context.ts";
import { AS_HELP } from "./render/frame-input.ts";
import { pathLabel } from "./render/prediction.ts";
import { renderTable } from "./render/table.ts";

function range(r: { offset: number; size: number } | undefined): string {
  return r ? `${r.offset}..${r.offset + r.size - 1}` : "-";
}

function areaLine(fp: AreaSizes): string {
  return `xstate_size ${fp.xstateSize}, extended_size ${fp.extendedSize}, xfeatures ${hex(fp.xfeatures)}, xstate_bv ${hex(fp.xstateBv)}; ${fp.size}-byte area`;
}

function untranslatedLine(u: UntranslatedRead, aName: string): string {
  const what = u.overlaps.map((o) => (o === "magic2" || o === "past the frame" ? o : `${aName}'s ${o}`));
  return `${u.name.padEnd(10)} at ${range(u.to)}: ${what.length ? what.join(", ") : "bytes no component holds"}`;
}

function renderPrediction(ctx: CliContext, r: TranslationPrediction, bName: string): string[] {
  const c = ctx.c;
  const p = r.prediction;
  const verdict = pathLabel(c, p);
  const head = `    ${p.policy.padEnd(8)} ${verdict} (${p.reason}): `;
  if (r.restored) {
    const from = p.components.filter((x) => x.result === "frame").map((x) => `${x.name}@${x.offset}`);
    const init = p.components.filter((x) => x.result === "init").map((x) => x.name);
    return [
      `${head}every carried register is loaded from ${bName}'s offsets (${from.join(" ")})${init.length ? `; ${init.join(", ")} init` : ""}`,
    ];
  }
  const lines = [`${head}${c.red(`not restored: ${r.missing.join(", ")}`)}`, `             ${p.detail}`];
  return lines;
}

function renderTranslate(ctx: CliContext, r: TranslateReport): string {
  const t = r.translation;
  const rel = r.relocation;
  const c = ctx.c;
  const fmt = `${r.input.format === "fpstate" ? "FPU area" : r.input.format === "frame" ? "rt_sigframe" : "ucontext (SROP payload)"}${r.input.detected ? " (detected)" : ""}`;
  const lines: string[] = [];
  lines.push(
    `${c.bold("translate")} ${r.input.name}: ${fmt}${rel ? `, FPU area at offset ${rel.fpstateOffset} (${hex(rel.fpstate.from)})` : ""}`,
  );
  lines.push(`  from ${r.from.name} (XCR0 ${hex(r.from.layout.xcr0)}): ${areaLine(t.source)}`);
  lines.push(
    `  to   ${r.to.name} (user_size ${r.to.layout.userSize}, features ${hex(r.to.layout.userFeatures)}), ${r.style} style: ${areaLine(t.result)}`,
  );
  lines.push("");
  const rows = t.components.map((m) => [
    String(m.bit),
    m.name,
    m.action === "moved" || m.action === "kept"
      ? c.green(m.action)
      : m.action === "dropped"
        ? m.lost
          ? c.red("dropped (lost)")
          : "dropped (init)"
        : "init",
    range(m.from),
    range(m.to),
    m.note ?? "",
  ]);
  lines.push(
    renderTable(
      [
        { header: "bit", align: "right" },
        { header: "component" },
        { header: "action" },
        { header: `${r.from.name} bytes` },
        { header: `${r.to.name} bytes` },
        { header: "note" },
      ],
      rows,
      "  ",
    ),
  );
  lines.push("");
  const mx = t.mxcsr;
  lines.push(
    mx.unsupported === 0
      ? `  MXCSR ${hex(mx.value)}: within ${r.to.name}'s MXCSR_MASK ${hex(mx.mask)} (${mx.basis})`
      : mx.fixed
        ? `  MXCSR ${hex(mx.value)} → ${hex(mx.written)}: cleared ${hex(mx.unsupported)}, outside ${r.to.name}'s MXCSR_MASK ${hex(mx.mask)} (${mx.basis})`
        : c.red(
            `  MXCSR ${hex(mx.value)}: sets ${hex(mx.unsupported)}, outside ${r.to.name}'s MXCSR_MASK ${hex(mx.mask)} (${mx.basis})`,
          ),
  );
  const carried = t.components.filter((m) => m.action === "moved" || m.action === "kept").map((m) => m.name);
  lines.push(
    `  checked: every carried register (${carried.join(", ")}) reads back equal at ${r.to.name}'s offsets`,
  );
  for (const n of r.notes) lines.push(`  note: ${n}`);
  if (r.untranslated.length) {
    lines.push("", `  untranslated, ${r.to.name} would read:`);
    for (const u of r.untranslated) lines.push(`    ${untranslatedLine(u, r.from.name)}`);
  }
  lines.push("", `  sigreturn on ${r.to.name}${r.kernel ? ` (kernel ${r.kernel})` : ""}:`);
  for (const p of r.predictions) lines.push(...renderPrediction(ctx, p, r.to.name));
  if (r.kernelNote) lines.push(`  note: ${r.kernelNote}`);
  if (t.lost.length) lines.push(c.red(`  lost: ${t.lost.join(", ")} (not held by ${r.to.name}'s task)`));
  lines.push(
    "",
    `wrote ${r.output === "-" ? "stdout" : r.output}: ${r.bytes.length} bytes (${rel ? `rt_sigframe, fpstate at offset ${rel.fpstateOffset}` : "FPU area"})${r.lossy ? c.red("; state would be lost (exit 3)") : ""}`,
  );
  return lines.join("\n");
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command("translate")
    .summary("move a frame's XSAVE state to another CPU's layout")
    .description(
      "Read IN (a whole rt_sigframe, an SROP payload or only the FPU area, as for inspect/predict) at the layout of the CPU that wrote it (--from), and write it for the CPU that restores it (--to): x87/SSE as is, every component both have moved to the destination's offset, components the destination's task lacks dropped (reported: state lost when not init), components only the destination has left init. The sw bytes and magic2 are rewritten for the destination (--style kernel: xstate_size = the destination task's user_size, what its kernel writes; --style criu: trimmed to the highest component in use). For a whole frame the fpstate pointer and the frame's length follow the new size.\n\nThe result is decoded again and every carried register must read back equal (else nothing is written), then sigreturn is predicted on the destination (all policies unless --kernel/--policy).\n\nExit codes: 0 nothing lost; 3 state would be lost (a dropped component that was not init, or a prediction that does not restore everything carried); 2 bad input or usage.",
    )
    .argument("<IN>", "frame file, or - for stdin")
    .requiredOption("--from <PROFILE>", "the CPU that wrote IN: host, a built-in name, or a profile file")
    .requiredOption("--to <PROFILE>", "the CPU that restores it: host, a built-in name, or a profile file")
    .requiredOption("-o, --output <FILE>", "output file, or - for stdout")
    .option("--style <STYLE>", "kernel or criu", "kernel")
    .option("--amx", "the destination task has enabled AMX tile data (user_size includes XTILEDATA)")
    .option("--fpstate-only", "IN holds only the FPU area")
    .option("--frame", "IN is an rt_sigframe starting at pretcode")
    .option("--ucontext", "IN starts at uc_flags (SROP payload)")
    .option("--as <KIND>", AS_HELP)
    .option("--base <ADDR>", "address of IN's first byte (locates the fpstate of a frame)")
    .option("--keep-size", "write the destination's area inside the source area (only when it fits)")
    .option("--fix-mxcsr", "clear MXCSR bits the destination's MXCSR_MASK lacks")
    .option("--kernel <K>", "destination kernel X.Y[.Z][-rcN] for the prediction")
    .option("--policy <P>", "legacy, classic or refined (default: all three)")
    .option("--json", "JSON report on stdout (needs -o FILE)")
    .action(async (file: string, flags: Omit<TranslateRequest, "input">) => {
      const r = await translateReport(
        { ...flags, input: file },
        { loadProfile, readInput: readFrameFile, checkOutput: refuseOutputOverInput },
      );
      writeOutputAtomic(r.output, r.bytes, (s) => ctx.io.stdout(s));
      ctx.setExit(r.exitCode);
      if (flags.json) ctx.out(toJson(translateJson(r)));
      else if (r.output === "-") ctx.io.stderr(`${renderTranslate(ctx, r)}\n`);
      else ctx.out(renderTranslate(ctx, r));
    });
}
