/** `sigframe build`: encode a signal frame (or its FPU area) from register values, in a producer's style. */
import type { Command } from "commander";
import { hex } from "../core/hex.ts";
import { type BuildReport, type BuildRequest, buildReport } from "../core/sigframe/report.ts";
import { readInput, refuseOutputOverInput, writeOutputAtomic } from "../node/files.ts";
import { loadProfile } from "../node/profile-arg.ts";
import type { CliContext } from "./context.ts";

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
    .action(async (flags: BuildRequest) => {
      const env = { loadProfile, readInput, checkOutput: refuseOutputOverInput };
      const r = await buildReport(flags, env);
      writeOutputAtomic(flags.output, r.bytes, (s) => ctx.io.stdout(s));
      if (flags.output === "-") return;
      ctx.out(renderBuild(flags.output, r));
      for (const n of r.notes) ctx.warn(n);
    });
}

/** What was written: size and kind, and where the FPU area is with its sw bytes. */
function renderBuild(output: string, r: BuildReport): string {
  const lines = [`${output}: ${r.bytes.length} bytes, ${r.producer} ${r.kind}`];
  const fp = r.fpstate;
  if (fp)
    lines.push(
      `fpstate at offset ${r.fpstateOffset}${r.fpstateAddress !== undefined ? ` (${hex(r.fpstateAddress)})` : ""}: ${r.ia32 ? "FSAVE header, image at +112; " : ""}xstate_size ${fp.sw.xstateSize}, extended_size ${fp.sw.extendedSize}, xfeatures ${hex(fp.sw.xfeatures)}, xstate_bv ${fp.header ? hex(fp.header.xstateBv) : "-"}`,
    );
  return lines.join("\n");
}
