/** `sigframe build`: encode a signal frame (or its FPU area) from register values, in a producer's style. */
import type { Command } from "commander";
import { UsageError } from "../core/errors.ts";
import { hex } from "../core/hex.ts";
import { mxcsrMaskOf } from "../core/mxcsr.ts";
import { type BuildOptions, type BuildStyle, buildFrame } from "../core/sigframe/build.ts";
import { buildIa32Frame } from "../core/sigframe/ia32-build.ts";
import { emptyState, MAX_STATE_BYTES } from "../core/sigframe/state.ts";
import { computeLayout } from "../core/xsave/layout.ts";
import { readInput, refuseOutputOverInput, writeOutputAtomic } from "../node/files.ts";
import { loadProfile } from "../node/profile-arg.ts";
import type { CliContext } from "./context.ts";
import { u64Option } from "./options.ts";

interface BuildFlags {
  cpu?: string;
  style?: string;
  state?: string;
  fpstateOnly?: boolean;
  pwntoolsVariant?: string;
  base?: string;
  amx?: boolean;
  ia32?: boolean;
  output?: string;
}

const STYLES: BuildStyle[] = ["kernel", "criu", "pwntools"];

export function register(program: Command, ctx: CliContext): void {
  program
    .command("build")
    .summary("encode a signal frame from register values (kernel, CRIU or pwntools style)")
    .description(
      'Encode a frame for PROFILE from STATE.json, an object of register name → value ("rip": "0x401000", "ymm3": "0x…", "k1": "0xff", "zmm17": "0x…", "mxcsr": "0x1f80", "st0", "pkru", …); registers it omits are init.\n\nStyles: kernel (what the kernel writes on delivery: xstate_size = user_size), criu (CRIU\'s restorer: xstate_size trimmed to the highest component in use, in its 16 KiB buffer), pwntools (SigreturnFrame\'s bytes; with --cpu an FPU area is appended and pointed to). --cpu is needed whenever an FPU area is written.',
    )
    .option("--cpu <PROFILE>", "CPU the FPU area is laid out for: host, a built-in name, or a profile file")
    .option("--style <STYLE>", "kernel, criu or pwntools", "kernel")
    .option("--state <STATE.json>", "register values (JSON object); - for stdin")
    .option("--fpstate-only", "write only the FPU area")
    .option("--pwntools-variant <N>", "pwntools SigreturnFrame size: 248 (before PR #2762) or 304", "304")
    .option("--base <ADDR>", "address of the output's first byte (sets the fpstate pointer)")
    .option("--amx", "the task has enabled AMX tile data (user_size includes XTILEDATA)")
    .option(
      "--ia32",
      "a 32-bit task's frame as the kernel writes it: rt_sigframe_ia32 with the FSAVE header before the image (kernel style only)",
    )
    .requiredOption("-o, --output <FILE>", "output file, or - for stdout")
    .action(async (flags: BuildFlags) => {
      const style = flags.style as BuildStyle;
      if (!STYLES.includes(style))
        throw new UsageError(
          `--style must be kernel, criu or pwntools (got ${JSON.stringify(flags.style)})`,
          { input: "--style" },
        );
      const variant = Number(flags.pwntoolsVariant);
      if (variant !== 248 && variant !== 304)
        throw new UsageError("--pwntools-variant must be 248 or 304", { input: "--pwntools-variant" });
      const base = u64Option(flags.base, "--base");
      if (style !== "pwntools" && !flags.cpu)
        throw new UsageError(`--cpu is needed: the ${style} style writes an FPU area laid out for a CPU`, {
          input: "build",
        });
      if (flags.fpstateOnly && !flags.cpu)
        throw new UsageError("--cpu is needed with --fpstate-only", { input: "build" });

      refuseOutputOverInput(flags.output, [flags.state, flags.cpu]);
      let state = emptyState();
      if (flags.state !== undefined) {
        const f = readInput(flags.state, MAX_STATE_BYTES);
        // The STATE.json validator (zod) is loaded only when a state is given.
        const { parseStateText } = await import("../core/sigframe/state-json.ts");
        state = parseStateText(new TextDecoder("utf-8", { fatal: false }).decode(f.bytes), f.name);
      }
      if (flags.ia32) {
        if (style !== "kernel")
          throw new UsageError("--ia32 builds only the kernel style", { input: "--style" });
        const profile = await loadProfile(flags.cpu!);
        const o: Parameters<typeof buildIa32Frame>[0] = {
          layout: computeLayout(profile, flags.amx ? { amx: true } : {}),
          state,
        };
        o.mxcsrMask = BigInt(mxcsrMaskOf(profile).value);
        if (flags.fpstateOnly) o.fpstateOnly = true;
        if (base !== undefined) o.base = base;
        const r = buildIa32Frame(o);
        writeOutputAtomic(flags.output!, r.bytes, (s) => ctx.io.stdout(s));
        if (flags.output === "-") return;
        const fx = r.fpstate.fx!;
        ctx.out(
          [
            `${flags.output}: ${r.bytes.length} bytes, kernel ${flags.fpstateOnly ? "ia32 FPU area" : "rt_sigframe_ia32"}`,
            `fpstate at offset ${r.fpstateOffset}${r.image ? ` (${hex(r.image.frame.mcontext.fpstate)})` : ""}: FSAVE header, image at +112; xstate_size ${fx.sw.xstateSize}, extended_size ${fx.sw.extendedSize}, xfeatures ${hex(fx.sw.xfeatures)}, xstate_bv ${fx.header ? hex(fx.header.xstateBv) : "-"}`,
          ].join("\n"),
        );
        for (const n of r.notes) ctx.warn(n);
        return;
      }
      const opts: BuildOptions = { style, state, pwntoolsVariant: variant };
      if (flags.cpu) {
        const profile = await loadProfile(flags.cpu);
        opts.layout = computeLayout(profile, flags.amx ? { amx: true } : {});
        // What this CPU's FXSAVE stores: measured, else estimated from its CPUID (AMD: 0x2ffff).
        opts.mxcsrMask = BigInt(mxcsrMaskOf(profile).value);
      }
      if (flags.fpstateOnly) opts.fpstateOnly = true;
      if (base !== undefined) opts.base = base;
      const r = buildFrame(opts);
      writeOutputAtomic(flags.output!, r.bytes, (s) => ctx.io.stdout(s));
      if (flags.output === "-") return;
      const parts = [
        `${flags.output}: ${r.bytes.length} bytes, ${style}${style === "pwntools" ? ` ${variant}` : ""} ${flags.fpstateOnly ? "FPU area" : style === "pwntools" ? "SROP payload (from uc_flags)" : "rt_sigframe"}`,
      ];
      if (r.fpstate) {
        const fp = r.fpstate;
        parts.push(
          `fpstate at offset ${r.fpstateOffset}${r.image ? ` (${hex(r.image.frame.mcontext.fpstate)})` : ""}: xstate_size ${fp.sw.xstateSize}, extended_size ${fp.sw.extendedSize}, xfeatures ${hex(fp.sw.xfeatures)}, xstate_bv ${fp.header ? hex(fp.header.xstateBv) : "-"}`,
        );
      }
      ctx.out(parts.join("\n"));
      for (const n of r.notes) ctx.warn(n);
    });
}
