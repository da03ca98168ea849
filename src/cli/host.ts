/** `sigframe host`: this machine as a sigframe-profile/1, captured by the native helper. */
import type { Command } from "commander";
import { hex, hexPad, toJson } from "../core/hex.ts";
import type { Profile } from "../core/profile.ts";
import { profileToJson } from "../core/profiles/to-json.ts";
import { computeLayout } from "../core/xsave/layout.ts";
import { writeOutputAtomic } from "../node/files.ts";
import { nativeHostProfile, requireHelper } from "../node/native.ts";
import type { CliContext } from "./context.ts";
import { renderPairs } from "./render/table.ts";

interface HostFlags {
  json?: boolean;
  save?: string;
}

function renderHost(ctx: CliContext, p: Profile): string {
  const { c } = ctx;
  const l = computeLayout(p);
  const sig = `${p.vendor} family ${p.family} model ${p.model} stepping ${p.stepping}`;
  const xcr0Names = l.components
    .filter((x) => x.inXcr0 && !x.supervisor)
    .map((x) => x.name)
    .join(" ");
  const leaves = p.cpuid.leaves;
  const basic = leaves.filter((x) => x.leaf < 0x40000000).length;
  const ext = leaves.filter((x) => x.leaf >= 0x80000000).length;
  const lines: string[] = [c.bold(`host: ${p.brand ? `${p.brand} (${sig})` : sig}`)];
  const pairs: [string, string][] = [["kernel", p.kernel ?? "unknown"]];
  pairs.push(["XCR0", p.xcr0 !== undefined ? `${hex(p.xcr0)}  ${xcr0Names}` : "not readable (no OSXSAVE)"]);
  if (p.xinuse !== undefined) pairs.push(["XINUSE", hex(p.xinuse)]);
  if (p.atMinSigStkSz !== undefined) pairs.push(["AT_MINSIGSTKSZ", String(p.atMinSigStkSz)]);
  if (p.mxcsrMask !== undefined) pairs.push(["MXCSR_MASK", hexPad(p.mxcsrMask, 8)]);
  pairs.push(["CPUID", `${leaves.length} leaves (${basic} basic, ${ext} extended)`]);
  lines.push(renderPairs(pairs, "  "));
  lines.push("", c.bold("signal frame as delivered by this kernel"));
  const o = p.observed;
  if (o) {
    const op: [string, string][] = [
      ["fpstate offset", `${o.fpstateOffset} bytes from the ucontext`],
      ["xstate_size", String(o.xstateSize)],
      ["extended_size", String(o.extendedSize)],
      ["xfeatures", hex(o.xfeatures)],
    ];
    if (o.xstateBv !== undefined)
      op.push(["xstate_bv", `${hex(o.xstateBv)} (components in use at the signal)`]);
    lines.push(renderPairs(op, "  "));
    const agree = l.frame.xstateSize === o.xstateSize && l.userFeatures === o.xfeatures;
    lines.push(
      "",
      agree
        ? `layout model: user_size ${l.userSize}, features ${hex(l.userFeatures)}: ${c.green("agrees with the kernel")}`
        : c.yellow(
            `layout model: user_size ${l.userSize}, features ${hex(l.userFeatures)}: differs from the kernel's frame`,
          ),
    );
  } else {
    lines.push("  no XSAVE frame (the kernel writes FXSAVE-only frames)");
  }
  for (const n of p.notes) lines.push(c.dim(`note: ${n}`));
  return lines.join("\n");
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command("host")
    .description("capture this machine as a profile (sigframe-profile/1) with the native helper")
    .option("--json", "the profile as JSON on stdout")
    .option("--save <FILE>", "write the profile to FILE (atomically)")
    .action((flags: HostFlags) => {
      requireHelper("host");
      const p = nativeHostProfile();
      const doc = `${toJson(profileToJson(p))}\n`;
      if (flags.save) writeOutputAtomic(flags.save, doc, (s) => ctx.io.stdout(s));
      if (flags.json) {
        if (flags.save !== "-") ctx.io.stdout(doc);
      } else if (flags.save !== "-") {
        ctx.out(renderHost(ctx, p));
        if (flags.save) ctx.out(`saved to ${flags.save}`);
      }
    });
}
