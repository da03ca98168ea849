/** `sigframe inspect`: decode a frame and name, explain and check every field. */

import type { Command } from "commander";
import { UsageError } from "../core/errors.ts";
import { hex, toJson } from "../core/hex.ts";
import { fpstateSpans, frameSpans, ia32FpstateSpans, ia32FrameSpans } from "../core/sigframe/annotate.ts";
import type { Finding } from "../core/sigframe/check.ts";
import { FIELD_HELP, LEGACY_FIELDS } from "../core/sigframe/fields.ts";
import type { Fpstate } from "../core/sigframe/fpstate.ts";
import type { SigframeImage } from "../core/sigframe/frame.ts";
import { FSAVE_FIELDS, type Ia32Fpstate, type Ia32SigframeImage } from "../core/sigframe/ia32.ts";
import { FRAME_FORMAT_TEXT } from "../core/sigframe/input.ts";
import {
  type InspectReport,
  type InspectRequest,
  inspectJson,
  inspectReport,
} from "../core/sigframe/report.ts";
import { fpstateSvg } from "../core/sigframe/svg.ts";
import { readFrameFile } from "../node/frame-file.ts";
import { loadProfile } from "../node/profile-arg.ts";
import type { CliContext } from "./context.ts";
import { oneFormat } from "./options.ts";
import { AS_HELP, IA32_FLAG_HELP } from "./render/frame-input.ts";
import { annotatedHexdump } from "./render/hexdump.ts";
import { renderTable } from "./render/table.ts";

function value(v: bigint, size: number): string {
  return size > 16 && v === 0n ? "0" : hex(v);
}

function renderFpstate(fp: Fpstate): string {
  const rows: string[][] = [];
  const helpOf = (n: string) => FIELD_HELP[n] ?? "";
  for (const [n, o, s] of LEGACY_FIELDS) {
    const v = (fp.legacy as Record<string, bigint>)[n]!;
    if (/^(st|xmm)\d/.test(n) && v === 0n) continue;
    rows.push([String(o), `legacy.${n}`, value(v, s), helpOf(n)]);
  }
  const sw = fp.sw;
  rows.push(["464", "sw_bytes.magic1", hex(sw.magic1), helpOf("magic1")]);
  rows.push(["468", "sw_bytes.extended_size", String(sw.extendedSize), helpOf("extended_size")]);
  rows.push(["472", "sw_bytes.xfeatures", hex(sw.xfeatures), helpOf("xfeatures")]);
  rows.push(["480", "sw_bytes.xstate_size", String(sw.xstateSize), helpOf("xstate_size")]);
  if (fp.header) {
    rows.push(["512", "header.xstate_bv", hex(fp.header.xstateBv), helpOf("xstate_bv")]);
    rows.push(["520", "header.xcomp_bv", hex(fp.header.xcompBv), helpOf("xcomp_bv")]);
  }
  const out = [
    renderTable(
      [{ header: "offset", align: "right" }, { header: "field" }, { header: "value" }, { header: "meaning" }],
      rows,
      "  ",
    ),
  ];
  for (const c of fp.components) {
    const present = fp.header ? (fp.header.xstateBv >> BigInt(c.bit)) & 1n : 0n;
    const regs = Object.entries(c.registers);
    const nonzero = regs.filter(([, v]) => v !== 0n);
    out.push(
      `  ${c.name} (bit ${c.bit}) at ${c.offset}..${c.offset + c.size - 1}: ${present ? "present (xstate_bv)" : "init per xstate_bv (bytes are not restored)"}${nonzero.length === 0 ? ", all zero" : ""}`,
    );
    for (const [n, v] of nonzero.slice(0, 32)) out.push(`    ${n.padEnd(10)} ${hex(v)}`);
    if (nonzero.length > 32) out.push(`    … ${nonzero.length - 32} more`);
  }
  out.push(
    fp.magic2 === undefined
      ? "  magic2: beyond the input"
      : `  magic2 at ${sw.xstateSize}: ${hex(fp.magic2)}${fp.magic2 === 0x46505845 ? " (FP_XSTATE_MAGIC2)" : ""}`,
  );
  return out.join("\n");
}

function renderImage(img: SigframeImage): string {
  const f = img.frame;
  const mc = f.mcontext as Record<string, bigint>;
  const pairs: string[][] = [];
  if (f.pretcode !== undefined) pairs.push(["pretcode", hex(f.pretcode), FIELD_HELP.pretcode ?? ""]);
  for (const [k, v] of Object.entries(f.uc)) pairs.push([k, hex(v), FIELD_HELP[k] ?? ""]);
  for (const [k, v] of Object.entries(mc)) {
    if (k.startsWith("reserved1_") && v === 0n) continue;
    pairs.push([k, hex(v), FIELD_HELP[k] ?? ""]);
  }
  if (f.ucSigmask !== undefined) pairs.push(["uc_sigmask", hex(f.ucSigmask), FIELD_HELP.uc_sigmask ?? ""]);
  if (f.info)
    for (const [k, v] of Object.entries(f.info))
      pairs.push([k, k === "sifields" && v === 0n ? "0" : hex(v), FIELD_HELP[k] ?? ""]);
  const head =
    `${f.start === "pretcode" ? "rt_sigframe" : "ucontext (SROP payload from uc_flags)"}, ${img.size} bytes` +
    (img.baseSource === "none" ? "" : `, base ${hex(img.base)} (${img.baseSource})`);
  return `${head}\n${renderTable([{ header: "field" }, { header: "value" }, { header: "meaning" }], pairs, "  ")}`;
}

function renderIa32Image(img: Ia32SigframeImage): string {
  const f = img.frame;
  const pairs: string[][] = [];
  const help = (k: string) => IA32_HELP[k] ?? FIELD_HELP[k] ?? "";
  pairs.push(["pretcode", hex(f.pretcode), help("pretcode")], ["sig", hex(f.sig), help("sig")]);
  if (f.pinfo !== undefined) pairs.push(["pinfo", hex(f.pinfo), help("pinfo")]);
  if (f.puc !== undefined) pairs.push(["puc", hex(f.puc), help("puc")]);
  if (f.uc) for (const [k, v] of Object.entries(f.uc)) pairs.push([k, hex(v), help(k)]);
  for (const [k, v] of Object.entries(f.mcontext)) {
    if (k.startsWith("__") && v === 0n) continue;
    pairs.push([k, hex(v), help(k)]);
  }
  if (f.ucSigmask !== undefined) pairs.push(["uc_sigmask", hex(f.ucSigmask), help("uc_sigmask")]);
  if (f.extramask !== undefined) pairs.push(["extramask", hex(f.extramask), help("extramask")]);
  if (f.info)
    for (const [k, v] of Object.entries(f.info))
      pairs.push([k, k === "sifields" && v === 0n ? "0" : hex(v), help(k)]);
  pairs.push(["retcode", hex(f.retcode), help("retcode")]);
  const head =
    `${f.kind === "rt" ? "rt_sigframe_ia32" : "sigframe_ia32"}, ${img.size} bytes` +
    (img.baseSource === "none" ? "" : `, base ${hex(img.base)} (${img.baseSource})`);
  return `${head}\n${renderTable([{ header: "field" }, { header: "value" }, { header: "meaning" }], pairs, "  ")}`;
}

const IA32_HELP: Readonly<Record<string, string>> = {
  pretcode: "return address of the handler: sa_restorer or the vDSO's __kernel_rt_sigreturn",
  sig: "signal number (the handler's first argument)",
  pinfo: "address of info (the handler's second argument)",
  puc: "address of uc (the handler's third argument)",
  uc_flags: "UC_FP_XSTATE (1) when the CPU has XSAVE; no SS bits for ia32 frames",
  eflags: "EFLAGS; sigreturn keeps only the user-modifiable bits",
  cs: "code segment (0x23 for 32-bit user code)",
  ss: "stack segment (0x2b)",
  esp_at_signal: "ESP when the signal arrived (informational)",
  fpstate: "address of the FSAVE header; the FXSAVE/XSAVE image follows at +112; 0 = none",
  extramask: "second word of the blocked mask (the first is oldmask)",
  retcode: "int $0x80 sigreturn stub; unused by the kernel, gdb recognises frames by it",
  cwd: "x87 control word, upper 16 bits set",
  swd: "x87 status word, upper 16 bits set",
  twd: "full x87 tag word (2 bits per register: valid, zero, special, empty)",
  fip: "last x87 instruction pointer (low 32 bits)",
  fcs: "the task's CS on a 64-bit kernel; bits 16..31 = FOP on restore",
  foo: "last x87 data pointer (low 32 bits)",
  fos: "DS | 0xffff0000 on a 64-bit kernel",
  status: "FSW again",
  magic: "X86_FXSR_MAGIC 0x0000: FXSAVE data follows at +112; 0xffff: FSAVE only",
};

function renderFsave(fp: Ia32Fpstate): string {
  const rows: string[][] = [];
  const h = fp.fsave as Record<string, bigint>;
  for (const [n, o] of FSAVE_FIELDS) {
    const v = h[n]!;
    if (/^st\d/.test(n) && v === 0n) continue;
    rows.push([String(o), `fsave.${n}`, hex(v), IA32_HELP[n] ?? ""]);
  }
  return renderTable(
    [{ header: "offset", align: "right" }, { header: "field" }, { header: "value" }, { header: "meaning" }],
    rows,
    "  ",
  );
}

function renderFindings(ctx: CliContext, findings: Finding[]): string {
  if (!findings.length) return "findings: none";
  const c = ctx.c;
  return [
    "findings:",
    ...findings.map((f) => {
      const sev =
        f.severity === "error" ? c.red("error") : f.severity === "warning" ? c.yellow("warning") : "info";
      return `  ${sev} ${f.code} (${f.path}): ${f.message}`;
    }),
  ].join("\n");
}

function renderInspect(ctx: CliContext, r: InspectReport): string {
  const parts = [
    `${r.input.name}: ${r.input.format === "fpstate" ? "FPU area" : r.input.ia32 ? FRAME_FORMAT_TEXT[r.input.format] : r.input.format}${r.input.detected ? " (detected)" : ""}, ${r.input.bytes.length} bytes${r.layout ? `, read as ${r.layout.profile.name}` : ""}`,
  ];
  if (r.input.ia32) {
    const { image, fpstate, fpstateOffset } = r.input.ia32;
    if (image) parts.push(renderIa32Image(image));
    if (fpstate) {
      parts.push(
        `FSAVE header${image ? ` at offset ${fpstateOffset}` : ""}, 112 bytes (ia32 sigreturn takes x87 from here)\n${renderFsave(fpstate)}`,
      );
      if (fpstate.fx)
        parts.push(
          `FXSAVE/XSAVE image at offset ${r.input.fpstateOffset} (buf_fx), ${fpstate.fx.size} bytes\n${renderFpstate(fpstate.fx)}`,
        );
    }
    parts.push(renderFindings(ctx, r.findings));
    return parts.join("\n\n");
  }
  if (r.input.image) parts.push(renderImage(r.input.image));
  if (r.input.fpstate)
    parts.push(
      `FPU area${r.input.image ? ` at offset ${r.input.image.fpstateOffset}` : ""}, ${r.input.fpstate.size} bytes\n${renderFpstate(r.input.fpstate)}`,
    );
  parts.push(renderFindings(ctx, r.findings));
  return parts.join("\n\n");
}

function inspectSvg(r: InspectReport): string {
  if (!r.input.fpstate)
    throw new UsageError("--svg draws the FPU area, and this frame has none (NULL fpstate)", {
      input: r.input.name,
    });
  const title = `${r.input.name}: FPU area${r.layout ? ` read as ${r.layout.profile.name}` : ""}`;
  return fpstateSvg(
    r.input.fpstate,
    title,
    r.findings.map((f) => `${f.severity}: ${f.message}`),
  );
}

function inspectHexdump(r: InspectReport): string {
  const input = r.input;
  if (input.ia32) {
    const img = input.ia32.image;
    const spans = img ? ia32FrameSpans(img) : ia32FpstateSpans(input.ia32.fpstate!);
    return annotatedHexdump(input.bytes, spans, img ? img.base : (input.fpstateAddress ?? 0n));
  }
  const spans = input.image ? frameSpans(input.image) : fpstateSpans(input.fpstate!);
  return annotatedHexdump(input.bytes, spans, input.image ? input.image.base : (input.fpstateAddress ?? 0n));
}

interface InspectOutput {
  json?: boolean;
  hexdump?: boolean;
  svg?: boolean;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command("inspect")
    .summary("decode a signal frame, name and explain every field, flag inconsistencies")
    .description(
      "Decode FILE: a whole rt_sigframe (--frame), an SROP payload from uc_flags on (--ucontext) or only the FPU area (--fpstate-only); without a flag the format is detected from what the bytes hold (magic1, a ucontext sigreturn could take), and input that is not a frame is refused. With --cpu, extended components are decoded at that CPU's offsets and checked against its layout (and its MXCSR_MASK).\n\nExit codes: 0 no finding above info, 1 warnings, 3 errors (the kernel would not restore the frame as written), 2 bad input or not a frame.",
    )
    .argument("<FILE>", "frame file, or - for stdin")
    .option("--fpstate-only", "FILE holds only the FPU area")
    .option("--frame", "FILE is an rt_sigframe starting at pretcode")
    .option("--ucontext", "FILE starts at uc_flags (SROP payload, pwntools SigreturnFrame)")
    .option("--as <KIND>", AS_HELP)
    .option("--ia32", IA32_FLAG_HELP.ia32)
    .option("--ia32-sigframe", IA32_FLAG_HELP.ia32Sigframe)
    .option("--base <ADDR>", "address of FILE's first byte")
    .option(
      "--cpu <PROFILE>",
      "CPU whose layout locates the components: host, built-in name, or profile file",
    )
    .option("--amx", "the task has enabled AMX tile data")
    .option("--json", "JSON output")
    .option("--hexdump", "annotated hexdump")
    .option("--svg", "SVG picture of the FPU area")
    .action(async (file: string, flags: Omit<InspectRequest, "input"> & InspectOutput) => {
      oneFormat(flags as Record<string, unknown>, ["json", "hexdump", "svg"]);
      const r = await inspectReport({ ...flags, input: file }, { loadProfile, readInput: readFrameFile });
      ctx.setExit(r.exitCode);
      if (flags.svg) ctx.io.stdout(inspectSvg(r));
      else if (flags.hexdump) ctx.out(inspectHexdump(r));
      else ctx.out(flags.json ? toJson(inspectJson(r)) : renderInspect(ctx, r));
    });
}
