/**
 * `sigframe translate`: move a frame's XSAVE state from CPU A's standard-format layout to CPU B's,
 * component by component, check that every register reads back, and predict the restore on B.
 */

import type { Command } from "commander";
import { isSigframeError, UsageError } from "../core/errors.ts";
import { hasBit, hex, toJson } from "../core/hex.ts";
import { mxcsrMaskOf } from "../core/mxcsr.ts";
import { displayName, type Profile } from "../core/profile.ts";
import type { Fpstate } from "../core/sigframe/fpstate.ts";
import {
  type FpstateTranslation,
  predictTranslation,
  type Relocation,
  type TranslateStyle,
  type TranslationPrediction,
  translateFpstate,
  translateSigframeImage,
  type UntranslatedRead,
  untranslatedReads,
} from "../core/sigframe/translate/index.ts";
import { predictionToJson } from "../core/sigreturn/json.ts";
import { choosePolicies } from "../core/sigreturn/policy.ts";
import { losesState } from "../core/sigreturn/predict.ts";
import { POLICIES, type Policy } from "../core/sigreturn/types.ts";
import { XFEATURE } from "../core/xsave/components.ts";
import { computeLayout, type XsaveLayout } from "../core/xsave/layout.ts";
import { refuseOutputOverInput, writeOutputAtomic } from "../node/files.ts";
import { loadProfile } from "../node/profile-arg.ts";
import type { CliContext } from "./context.ts";
import { kernelOption, u64Option } from "./options.ts";
import { AS_HELP, type FrameFlags, type FrameInput, readFrameInput } from "./render/frame-input.ts";
import { pathLabel } from "./render/prediction.ts";
import { renderTable } from "./render/table.ts";

interface TranslateFlags extends FrameFlags {
  from?: string;
  to?: string;
  output?: string;
  style?: string;
  amx?: boolean;
  base?: string;
  keepSize?: boolean;
  fixMxcsr?: boolean;
  kernel?: string;
  policy?: string;
  json?: boolean;
}

const STYLES: TranslateStyle[] = ["kernel", "criu"];

function range(r: { offset: number; size: number } | undefined): string {
  return r ? `${r.offset}..${r.offset + r.size - 1}` : "-";
}

function areaLine(fp: {
  xstateSize: number;
  extendedSize: number;
  xfeatures: bigint;
  xstateBv: bigint;
  size: number;
}) {
  return `xstate_size ${fp.xstateSize}, extended_size ${fp.extendedSize}, xfeatures ${hex(fp.xfeatures)}, xstate_bv ${hex(fp.xstateBv)}; ${fp.size}-byte area`;
}

function sizeWord(from: number, to: number): string {
  return to > from
    ? `grows from ${from} to ${to} bytes`
    : to < from
      ? `shrinks from ${from} to ${to} bytes`
      : `keeps its ${from} bytes`;
}

/** What the new size means for a frame that sits in memory. */
function placementNotes(
  t: FpstateTranslation,
  rel: Relocation | undefined,
  keepSize: boolean,
  criuNeeded: number | undefined,
  bName: string,
): string[] {
  const from = t.source.size;
  const to = t.fpstate.size;
  const out: string[] = [];
  if (keepSize) {
    out.push(
      `kept in place: ${bName}'s ${t.style}-style area (${t.needed} bytes) is written inside the ${from}-byte source area; the bytes after magic2 are zero; the fpstate pointer and the frame's addresses are unchanged`,
    );
    return out;
  }
  if (from === to) {
    out.push(`the FPU area keeps its ${from} bytes: the frame can replace the original in place`);
    return out;
  }
  if (to < from) {
    out.push(
      `the FPU area ${sizeWord(from, to)}: the frame keeps its start and fpstate pointer and ends ${from - to} bytes earlier, so it can replace the original in place; --keep-size also keeps its length (the bytes after magic2 zero).`,
    );
    return out;
  }
  let s = `the FPU area ${sizeWord(from, to)}`;
  if (rel) {
    s += `. Under the same top of stack (the end of the frame, ${hex(rel.end.from)}), the frame now starts at ${hex(rel.base.to)} (${-rel.delta} bytes lower) and its fpstate pointer is ${hex(rel.fpstate.to)} (64-byte aligned)`;
  }
  out.push(`${s}.`);
  out.push(
    "A frame that sits on a real stack (a thread blocked in its handler, a checkpointed stack) cannot be resized in place: the bytes above it are the interrupted code's red zone and stack, those below it the handler's own frames. The restorer must lay out the stack around the frame at its new address (rt_sigreturn reads the frame at rsp − 8).",
  );
  let k = `--keep-size is not possible: ${bName}'s ${t.style}-style area needs ${t.needed} bytes and the source area has ${from}`;
  if (t.style === "kernel" && criuNeeded !== undefined)
    k +=
      criuNeeded <= from
        ? `; with --style criu (xstate_size trimmed to the highest component in use) it needs ${criuNeeded} bytes and fits, but refined kernels (v6.15–v7.1-rc5) then fall back to FX-only`
        : `; even --style criu (trimmed to the highest component in use) needs ${criuNeeded}`;
  out.push(`${k}.`);
  return out;
}

function predictionJson(r: TranslationPrediction): Record<string, unknown> {
  return { ...predictionToJson(r.prediction), restored: r.restored, missing: r.missing };
}

function layoutJson(l: XsaveLayout, name: string): Record<string, unknown> {
  return { profile: name, xcr0: l.xcr0, userFeatures: l.userFeatures, userSize: l.userSize };
}

function sizesJson(s: FpstateTranslation["source"]): Record<string, unknown> {
  return {
    xstateSize: s.xstateSize,
    extendedSize: s.extendedSize,
    xfeatures: s.xfeatures,
    xstateBv: s.xstateBv,
    areaSize: s.size,
  };
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
    .action(async (file: string, flags: TranslateFlags) => {
      const style = flags.style as TranslateStyle;
      if (!STYLES.includes(style))
        throw new UsageError(`--style must be kernel or criu (got ${JSON.stringify(flags.style)})`, {
          input: "--style",
        });
      if (flags.kernel !== undefined && flags.policy !== undefined)
        throw new UsageError("give at most one of --kernel K, --policy P", { input: "translate" });
      if (flags.json && flags.output === "-")
        throw new UsageError("--json writes the report to stdout: give -o FILE for the frame", {
          input: "--json",
        });
      refuseOutputOverInput(flags.output, [file]);
      const kernel = kernelOption(flags.kernel);
      const chosen = choosePolicies(flags.policy, kernel);
      const policies: Policy[] = chosen.policies ?? [...POLICIES];
      const note = chosen.note;
      const base = u64Option(flags.base, "--base");

      const pa: Profile = await loadProfile(flags.from!);
      const pb: Profile = await loadProfile(flags.to!);
      const aName = displayName(pa, flags.from!);
      const bName = displayName(pb, flags.to!);
      if (flags.amx && !hasBit(computeLayout(pb).xcr0, XFEATURE.XTILEDATA))
        throw new UsageError(`${bName} has no AMX tile data in XCR0`, { input: "--amx" });
      const la0 = computeLayout(pa);
      const inOpts: { base?: bigint; layout?: XsaveLayout } = { layout: la0 };
      if (base !== undefined) inOpts.base = base;
      const input: FrameInput = readFrameInput(file, flags, inOpts);
      const src: Fpstate | undefined = input.fpstate;
      if (input.image && input.image.frame.mcontext.fpstate !== 0n && !src) {
        throw new UsageError(
          `the frame's fpstate ${hex(input.image.frame.mcontext.fpstate)} is not inside the input; give --base (address of the first byte) or translate the FPU area with --fpstate-only`,
          { input: input.name, path: "frame/uc/uc_mcontext/fpstate" },
        );
      }
      // A frame from a task that used AMX is laid out with tile data: read it with that task's view.
      const la =
        src && hasBit(src.sw.xfeatures, XFEATURE.XTILEDATA) && hasBit(la0.xcr0, XFEATURE.XTILEDATA)
          ? computeLayout(pa, { amx: true })
          : la0;
      const lb = computeLayout(pb, flags.amx ? { amx: true } : {});
      const mask = mxcsrMaskOf(pb);
      const topts = { from: la, to: lb, style, mxcsrMask: mask, fixMxcsr: Boolean(flags.fixMxcsr) };

      let t: FpstateTranslation;
      let out: Uint8Array;
      let rel: Relocation | undefined;
      let address: bigint | undefined;
      let criuNeeded: number | undefined;
      try {
        if (input.image) {
          const r = translateSigframeImage(input.image, { ...topts, keepSize: Boolean(flags.keepSize) });
          t = r.fpstate;
          out = r.bytes;
          rel = r.relocation;
          address = rel.fpstate.to;
        } else {
          const areaSize = flags.keepSize ? src!.size : undefined;
          t = translateFpstate(src!, areaSize !== undefined ? { ...topts, areaSize } : topts);
          out = t.bytes;
          address = input.fpstateAddress;
        }
        if (style === "kernel" && t.fpstate.size > t.source.size) {
          try {
            criuNeeded = translateFpstate(src!, { ...topts, style: "criu" }).needed;
          } catch {
            criuNeeded = undefined;
          }
        }
      } catch (e) {
        if (isSigframeError(e)) {
          if (flags.keepSize && e.kind === "usage" && e.path === "fpstate")
            throw new UsageError(
              `--keep-size: ${e.message}; the frame cannot keep its size (see 'sigframe help translate')`,
              { input: input.name },
            );
          e.locate({ input: input.name });
        }
        throw e;
      }

      const popts: Parameters<typeof predictTranslation>[1] = {
        task: lb,
        policies,
        mxcsrMask: mask.value,
        compactedForm: pb.cpuid.has("XSAVEC"),
      };
      if (address !== undefined) popts.address = address;
      const preds = predictTranslation(t, popts);
      const untranslated = untranslatedReads(src!, la, lb);
      const lossy = t.lost.length > 0 || preds.some((r) => losesState(r.prediction) || !r.restored);
      const notes = [...t.notes, ...placementNotes(t, rel, Boolean(flags.keepSize), criuNeeded, bName)];
      if (t.mxcsr.unsupported && !t.mxcsr.fixed)
        notes.push(
          `MXCSR ${hex(t.mxcsr.value)} sets ${hex(t.mxcsr.unsupported)}, outside ${bName}'s MXCSR_MASK ${hex(t.mxcsr.mask)} (${t.mxcsr.basis}): sigreturn on ${bName} is SIGSEGV; --fix-mxcsr clears those bits`,
        );

      writeOutputAtomic(flags.output!, out, (s) => ctx.io.stdout(s));
      if (lossy) ctx.setExit(3);

      if (flags.json) {
        ctx.out(
          toJson({
            from: layoutJson(la, aName),
            to: layoutJson(lb, bName),
            style,
            input: {
              file: input.name,
              format: input.format,
              detected: input.detected,
              fpstateOffset: input.image ? (input.image.fpstateOffset ?? null) : 0,
              ...sizesJson(t.source),
            },
            output: {
              file: flags.output,
              size: out.length,
              fpstateOffset: rel ? rel.fpstateOffset : 0,
              ...sizesJson(t.result),
            },
            components: t.components.map((m) => ({
              bit: m.bit,
              name: m.name,
              action: m.action,
              source: m.source,
              from: m.from ?? null,
              to: m.to ?? null,
              lost: m.lost,
              note: m.note ?? null,
            })),
            dropped: t.dropped,
            lost: t.lost,
            mxcsr: {
              value: hex(t.mxcsr.value),
              mask: hex(t.mxcsr.mask),
              maskEstimated: t.mxcsr.estimated,
              maskBasis: t.mxcsr.basis,
              unsupported: hex(t.mxcsr.unsupported),
              fixed: t.mxcsr.fixed,
              written: hex(t.mxcsr.written),
            },
            frame: rel
              ? {
                  fpstateOffset: rel.fpstateOffset,
                  base: rel.base,
                  fpstate: rel.fpstate,
                  end: rel.end,
                  delta: Number(rel.delta),
                  inPlace: rel.inPlace,
                }
              : null,
            keepSize: Boolean(flags.keepSize),
            verified: true,
            untranslated: untranslated.map((u) => ({
              bit: u.bit,
              name: u.name,
              from: u.from,
              to: u.to,
              reads: u.overlaps,
              pastXstateSize: u.pastXstateSize,
              pastArea: u.pastArea,
            })),
            kernel: kernel?.text ?? null,
            note: note ?? null,
            predictions: preds.map(predictionJson),
            lossy,
            notes,
          }),
        );
        return;
      }

      const c = ctx.c;
      const fmt = `${input.format === "fpstate" ? "FPU area" : input.format === "frame" ? "rt_sigframe" : "ucontext (SROP payload)"}${input.detected ? " (detected)" : ""}`;
      const lines: string[] = [];
      lines.push(
        `${c.bold("translate")} ${input.name}: ${fmt}${rel ? `, FPU area at offset ${rel.fpstateOffset} (${hex(rel.fpstate.from)})` : ""}`,
      );
      lines.push(`  from ${aName} (XCR0 ${hex(la.xcr0)}): ${areaLine(t.source)}`);
      lines.push(
        `  to   ${bName} (user_size ${lb.userSize}, features ${hex(lb.userFeatures)}), ${style} style: ${areaLine(t.result)}`,
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
            { header: `${aName} bytes` },
            { header: `${bName} bytes` },
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
          ? `  MXCSR ${hex(mx.value)}: within ${bName}'s MXCSR_MASK ${hex(mx.mask)} (${mx.basis})`
          : mx.fixed
            ? `  MXCSR ${hex(mx.value)} → ${hex(mx.written)}: cleared ${hex(mx.unsupported)}, outside ${bName}'s MXCSR_MASK ${hex(mx.mask)} (${mx.basis})`
            : c.red(
                `  MXCSR ${hex(mx.value)}: sets ${hex(mx.unsupported)}, outside ${bName}'s MXCSR_MASK ${hex(mx.mask)} (${mx.basis})`,
              ),
      );
      const carried = t.components
        .filter((m) => m.action === "moved" || m.action === "kept")
        .map((m) => m.name);
      lines.push(
        `  checked: every carried register (${carried.join(", ")}) reads back equal at ${bName}'s offsets`,
      );
      for (const n of notes) lines.push(`  note: ${n}`);
      if (untranslated.length) {
        lines.push("", `  untranslated, ${bName} would read:`);
        for (const u of untranslated) lines.push(`    ${untranslatedLine(u, aName)}`);
      }
      lines.push("", `  sigreturn on ${bName}${kernel ? ` (kernel ${kernel.text})` : ""}:`);
      for (const r of preds) lines.push(...renderPrediction(ctx, r, bName));
      if (note) lines.push(`  note: ${note}`);
      if (t.lost.length) lines.push(c.red(`  lost: ${t.lost.join(", ")} (not held by ${bName}'s task)`));
      lines.push(
        "",
        `wrote ${flags.output === "-" ? "stdout" : flags.output}: ${out.length} bytes (${rel ? `rt_sigframe, fpstate at offset ${rel.fpstateOffset}` : "FPU area"})${lossy ? c.red("; state would be lost (exit 3)") : ""}`,
      );
      const text = lines.join("\n");
      if (flags.output === "-") ctx.io.stderr(`${text}\n`);
      else ctx.out(text);
    });
}
