/** `sigframe predict`: what rt_sigreturn does with a frame, register by register, per kernel policy. */

import type { Command } from "commander";
import { hex, toJson } from "../core/hex.ts";
import { FRAME_FORMAT_TEXT } from "../core/sigframe/input.ts";
import {
  type FrameEnv,
  type PredictReport,
  type PredictRequest,
  predictJson,
  predictReport,
} from "../core/sigframe/report.ts";
import type { Prediction } from "../core/sigreturn/types.ts";
import { FP_XSTATE_MAGIC1 } from "../core/xsave/components.ts";
import { readFrameFile } from "../node/frame-file.ts";
import { loadProfile } from "../node/profile-arg.ts";
import type { CliContext } from "./context.ts";
import { AS_HELP, IA32_FLAG_HELP } from "./render/frame-input.ts";
import { pathLabel } from "./render/prediction.ts";
import { renderTable } from "./render/table.ts";

function renderPrediction(ctx: CliContext, p: Prediction): string {
  const c = ctx.c;
  const verdict = pathLabel(c, p);
  const lines = [`${c.bold(`policy ${p.policy}`)}: ${verdict} — ${p.reason}`, `  ${p.detail}`];
  const rows = p.components.map((x) => [
    String(x.bit),
    x.name,
    x.result === "frame" ? c.green("frame") : p.lost.includes(x.name) ? c.red("init (lost)") : "init",
    x.offset !== undefined ? String(x.offset) : "",
  ]);
  // ia32: offsets are from the FSAVE header; MXCSR sits in the image at 112 + 24.
  const mxcsrAt = p.frame === "ia32" ? "136" : "24";
  rows.push([
    "",
    "MXCSR",
    p.mxcsr === "frame" ? c.green("frame") : "init",
    p.mxcsr === "frame" ? mxcsrAt : "",
  ]);
  lines.push(
    renderTable(
      [
        { header: "bit", align: "right" },
        { header: "component" },
        { header: "after sigreturn" },
        { header: "from offset", align: "right" },
      ],
      rows,
      "  ",
    ),
  );
  for (const n of p.notes) lines.push(`  note: ${n}`);
  lines.push(c.dim(`  source: ${p.source}`));
  return lines.join("\n");
}

function renderPredict(ctx: CliContext, r: PredictReport): string {
  const fp = r.input.fpstate;
  const head: string[] = [];
  const fmt = `${FRAME_FORMAT_TEXT[r.input.format]}${r.input.detected ? " (detected)" : ""}`;
  if (fp) {
    const xsave = fp.sw.magic1 === FP_XSTATE_MAGIC1;
    head.push(
      `frame: ${r.input.name}: ${fmt}, ${r.input.fpstateBytes!.length} bytes from the fpstate` +
        (xsave
          ? `; xstate_size ${fp.sw.xstateSize}, extended_size ${fp.sw.extendedSize}, xfeatures ${hex(fp.sw.xfeatures)}, xstate_bv ${fp.header ? hex(fp.header.xstateBv) : "?"}`
          : "; no magic1 (FXSAVE-only)"),
    );
  } else
    head.push(
      `frame: ${r.input.name}: ${fmt}, ${r.input.fpstateBytes ? `${r.input.fpstateBytes.length} bytes from the fpstate, no FXSAVE image` : "fpstate NULL"}`,
    );
  head.push(
    `task:  ${r.task.profile.name}: user_size ${r.task.userSize}, features ${hex(r.task.userFeatures)} (${r.task.components
      .filter((c) => c.enabled)
      .map((c) => c.name)
      .join(" ")})` +
      `; MXCSR_MASK ${hex(r.mxcsrMask.value)}${r.mxcsrMask.estimated ? ` (${r.mxcsrMask.basis})` : ""}` +
      (r.kernel ? `; kernel ${r.kernel}` : ""),
  );
  const fpBytes = r.input.fpstateBytes;
  const readable = r.readableBytes;
  if (readable !== undefined && fpBytes)
    head.push(
      `mapped: ${readable} bytes from the fpstate on (--readable-bytes)${readable < fpBytes.length ? `, the input has ${fpBytes.length}` : readable > fpBytes.length ? `, the input has ${fpBytes.length}: the rest read as zero` : ""}; a kernel read past them faults`,
    );
  if (r.note) head.push(`note:  ${r.note}`);
  return [head.join("\n"), ...r.predictions.map((p) => renderPrediction(ctx, p))].join("\n\n");
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command("predict")
    .summary("what rt_sigreturn does with a frame's FPU state, per kernel policy")
    .description(
      "Predict, component by component, what the receiving task holds after rt_sigreturn with FILE's FPU state: loaded from the frame, reset to init (silently, on the FX-only fallback), or SIGSEGV. FILE is the FPU area (--fpstate-only), a whole rt_sigframe (--frame) or an SROP payload from uc_flags on (--ucontext); without a flag the format is detected.\n\nPolicies: legacy (< v5.14), classic (v5.14–v6.14, v7.1-rc6+, stable trees with revert 44eeff9bc467), refined (dc8aa31a7ac2, v6.15–v7.1-rc5). See docs/policies.md. Choose them with --kernel, --policy or --all-policies; with --cpu host and none of these, the running kernel's policy is measured by the probe, as check --to host does (--no-measure: its release).",
    )
    .argument("<FILE>", "frame file, or - for stdin")
    .requiredOption("--cpu <PROFILE>", "the receiving CPU: host, a built-in name, or a profile file")
    .option("--kernel <K>", "receiving kernel X.Y[.Z][-rcN]: mapped to a policy (both when ambiguous)")
    .option("--policy <P>", "legacy, classic or refined")
    .option("--all-policies", "predict under all three policies")
    .option("--fpstate-only", "FILE holds only the FPU area")
    .option("--frame", "FILE is an rt_sigframe starting at pretcode")
    .option("--ucontext", "FILE starts at uc_flags (SROP payload, pwntools SigreturnFrame)")
    .option("--as <KIND>", AS_HELP)
    .option("--ia32", `${IA32_FLAG_HELP.ia32}; the ia32 restore path is predicted`)
    .option("--ia32-sigframe", IA32_FLAG_HELP.ia32Sigframe)
    .option("--base <ADDR>", "address of FILE's first byte (locates the fpstate of a frame)")
    .option(
      "--address <ADDR>",
      "address of the FPU area (alignment); default: the frame's fpstate pointer, else 64-byte aligned",
    )
    .option(
      "--readable-bytes <N>",
      "bytes mapped from the FPU area on; default the larger of the area and the task's user_size + 4 (bytes past the file read as zero)",
    )
    .option("--amx", "the receiving task has enabled AMX tile data")
    .option("--json", "JSON output")
    .option("--fail-on-loss", "exit 3 when state is lost or the task gets SIGSEGV")
    .option(
      "--no-measure",
      "with --cpu host and no --kernel/--policy: the kernel release table instead of probing the kernel",
    )
    .action(async (file: string, flags: Omit<PredictRequest, "input"> & { json?: boolean }) => {
      const env: FrameEnv = { loadProfile, readInput: readFrameFile };
      if (flags.cpu === "host" && flags.measure !== false)
        env.measurePolicy = (await import("../node/probe.ts")).measuredHostPolicy;
      const r = await predictReport({ ...flags, input: file }, env);
      ctx.setExit(r.exitCode);
      ctx.out(flags.json ? toJson(predictJson(r)) : renderPredict(ctx, r));
    });
}
