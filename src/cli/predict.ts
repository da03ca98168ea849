/** `sigframe predict`: what rt_sigreturn does with a frame, register by register, per kernel policy. */

import type { Command } from "commander";
import { TruncatedInputError, UsageError } from "../core/errors.ts";
import { hex, toJson } from "../core/hex.ts";
import { mxcsrMaskOf } from "../core/mxcsr.ts";
import type { Profile } from "../core/profile.ts";
import {
  FRAME_FORMAT_TEXT,
  type FrameInputOptions,
  type FramePredictOptions,
  predictFrameInput,
} from "../core/sigframe/input.ts";
import { predictionToJson } from "../core/sigreturn/json.ts";
import { choosePolicies } from "../core/sigreturn/policy.ts";
import { losesState } from "../core/sigreturn/predict.ts";
import { POLICIES, type Policy, type Prediction } from "../core/sigreturn/types.ts";
import { FP_XSTATE_MAGIC1 } from "../core/xsave/components.ts";
import { computeLayout, type XsaveLayout } from "../core/xsave/layout.ts";
import { loadProfile } from "../node/profile-arg.ts";
import type { CliContext } from "./context.ts";
import { kernelOption, sizeOption, u64Option } from "./options.ts";
import { AS_HELP, type FrameFlags, IA32_FLAG_HELP, readFrameInput } from "./render/frame-input.ts";
import { pathLabel } from "./render/prediction.ts";
import { renderTable } from "./render/table.ts";

interface PredictFlags extends FrameFlags {
  cpu?: string;
  kernel?: string;
  policy?: string;
  allPolicies?: boolean;
  base?: string;
  address?: string;
  readableBytes?: string;
  amx?: boolean;
  json?: boolean;
  failOnLoss?: boolean;
}

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

export function register(program: Command, ctx: CliContext): void {
  program
    .command("predict")
    .summary("what rt_sigreturn does with a frame's FPU state, per kernel policy")
    .description(
      "Predict, component by component, what the receiving task holds after rt_sigreturn with FILE's FPU state: loaded from the frame, reset to init (silently, on the FX-only fallback), or SIGSEGV. FILE is the FPU area (--fpstate-only), a whole rt_sigframe (--frame) or an SROP payload from uc_flags on (--ucontext); without a flag the format is detected.\n\nPolicies: legacy (< v5.14), classic (v5.14–v6.14, v7.1-rc6+, stable trees with revert 44eeff9bc467), refined (dc8aa31a7ac2, v6.15–v7.1-rc5). See docs/policies.md.",
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
    .action(async (file: string, flags: PredictFlags) => {
      const modes = [
        flags.kernel !== undefined,
        flags.policy !== undefined,
        Boolean(flags.allPolicies),
      ].filter(Boolean);
      if (modes.length !== 1)
        throw new UsageError("give exactly one of --kernel K, --policy P, --all-policies", {
          input: "predict",
        });
      const kernel = kernelOption(flags.kernel);
      const chosen = choosePolicies(flags.policy, kernel);
      const policies: Policy[] = chosen.policies ?? [...POLICIES];
      const note = chosen.note;
      const base = u64Option(flags.base, "--base");
      const address = u64Option(flags.address, "--address");
      const readable = sizeOption(flags.readableBytes, "--readable-bytes");

      const profile: Profile = await loadProfile(flags.cpu!);
      const task: XsaveLayout = computeLayout(profile, flags.amx ? { amx: true } : {});
      const inOpts: FrameInputOptions = { layout: task };
      if (base !== undefined) inOpts.base = base;
      // With --readable-bytes the capture ends where memory ends: a cut frame is a prediction
      // (the kernel's read of the missing bytes faults), not an input error.
      if (readable !== undefined) inOpts.strict = false;
      let input: ReturnType<typeof readFrameInput>;
      try {
        input = readFrameInput(file, flags, inOpts);
      } catch (e) {
        if (e instanceof TruncatedInputError && readable === undefined && /magic2|header/.test(e.path ?? ""))
          e.message +=
            "; if the capture ends where the task's memory ends, give --readable-bytes N for a prediction";
        throw e;
      }
      if (input.image && input.image.frame.mcontext.fpstate !== 0n && !input.fpstate) {
        throw new UsageError(
          `the frame's fpstate ${hex(input.image.frame.mcontext.fpstate)} is not inside the input; give --base (address of the first byte) or predict the FPU area with --fpstate-only`,
          { input: input.name, path: "frame/uc/uc_mcontext/fpstate" },
        );
      }
      const ia32Img = input.ia32?.image;
      if (ia32Img && ia32Img.frame.mcontext.fpstate !== 0n && !input.ia32?.fpstate) {
        throw new UsageError(
          `the frame's fpstate ${hex(ia32Img.frame.mcontext.fpstate)} is not inside the input; give --base (address of the first byte) or predict the FPU area with --ia32 --fpstate-only`,
          {
            input: input.name,
            path: ia32Img.frame.kind === "rt" ? "frame/uc/uc_mcontext/fpstate" : "frame/sc/fpstate",
          },
        );
      }
      const fpBytes = input.fpstateBytes;
      // The receiving CPU's MXCSR_MASK: measured where the profile has it, else from CPUID.
      const mxcsrMask = mxcsrMaskOf(profile);
      const popts: FramePredictOptions = {};
      if (address !== undefined) popts.address = address;
      if (readable !== undefined) popts.readableBytes = readable;
      const predictions = predictFrameInput(input, profile, task, policies, popts);
      const lossy = predictions.some(losesState);
      if (flags.failOnLoss && lossy) ctx.setExit(3);

      if (flags.json) {
        const docs = predictions.map(predictionToJson);
        if (docs.length === 1)
          ctx.out(toJson({ ...docs[0], kernel: kernel?.text ?? null, note: note ?? null }));
        else ctx.out(toJson({ kernel: kernel?.text ?? null, note: note ?? null, predictions: docs }));
        return;
      }
      const fp = input.fpstate;
      const head: string[] = [];
      const fmt = `${FRAME_FORMAT_TEXT[input.format]}${input.detected ? " (detected)" : ""}`;
      if (fp) {
        const xsave = fp.sw.magic1 === FP_XSTATE_MAGIC1;
        head.push(
          `frame: ${input.name}: ${fmt}, ${fpBytes!.length} bytes from the fpstate` +
            (xsave
              ? `; xstate_size ${fp.sw.xstateSize}, extended_size ${fp.sw.extendedSize}, xfeatures ${hex(fp.sw.xfeatures)}, xstate_bv ${fp.header ? hex(fp.header.xstateBv) : "?"}`
              : fpBytes!.length < 512
                ? "; the input ends before the software bytes at 464"
                : "; no magic1 (FXSAVE-only)"),
        );
      } else
        head.push(
          `frame: ${input.name}: ${fmt}, ${fpBytes ? `${fpBytes.length} bytes from the fpstate, no FXSAVE image` : "fpstate NULL"}`,
        );
      head.push(
        `task:  ${task.profile.name}: user_size ${task.userSize}, features ${hex(task.userFeatures)} (${task.components
          .filter((c) => c.enabled)
          .map((c) => c.name)
          .join(" ")})` +
          `; MXCSR_MASK ${hex(mxcsrMask.value)}${mxcsrMask.estimated ? ` (${mxcsrMask.basis})` : ""}` +
          (kernel ? `; kernel ${kernel.text}` : ""),
      );
      if (readable !== undefined && fpBytes)
        head.push(
          `mapped: ${readable} bytes from the fpstate on (--readable-bytes)${readable < fpBytes.length ? `, the input has ${fpBytes.length}` : readable > fpBytes.length ? `, the input has ${fpBytes.length}: the rest read as zero` : ""}; a kernel read past them faults`,
        );
      if (note) head.push(`note:  ${note}`);
      ctx.out([head.join("\n"), ...predictions.map((p) => renderPrediction(ctx, p))].join("\n\n"));
    });
}
