/** `sigframe host`: this machine as a sigframe-profile/1, captured by the native helper. */
import type { Command } from "commander";
import { hex, hexPad, toJson } from "../core/hex.ts";
import type { Profile } from "../core/profile.ts";
import { profileToJson } from "../core/profiles/to-json.ts";
import { computeLayout } from "../core/xsave/layout.ts";
import { signalStack } from "../core/xsave/report.ts";
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
  const a = p.observedAmx;
  if (a) {
    // The task that requested tile data and loaded tiles (native/amx.c): the model's --amx layout.
    const la = computeLayout(p, { amx: true });
    lines.push("", c.bold("signal frame of a task that requested AMX tile data and loaded tiles"));
    const ap: [string, string][] = [
      ["xstate_size", String(a.xstateSize)],
      ["extended_size", String(a.extendedSize)],
      ["xfeatures", hex(a.xfeatures)],
    ];
    if (a.xstateBv !== undefined) ap.push(["xstate_bv", hex(a.xstateBv)]);
    lines.push(renderPairs(ap, "  "), "");
    const agree = la.frame.xstateSize === a.xstateSize && la.userFeatures === a.xfeatures;
    const words = `layout model --amx: user_size ${la.userSize}, features ${hex(la.userFeatures)}`;
    lines.push(
      agree
        ? `${words}: ${c.green("agrees with the kernel")}`
        : c.yellow(`${words}: differs from the kernel's frame`),
    );
  }
  if (p.atMinSigStkSz !== undefined) {
    const s = signalStack(l);
    const words = `AT_MINSIGSTKSZ model: ${s.atMinSigStkSz}`;
    lines.push(
      s.atMinSigStkSz === p.atMinSigStkSz
        ? `${words}: ${c.green("agrees with the kernel")}`
        : c.yellow(`${words}: the kernel says ${p.atMinSigStkSz}`),
    );
    if (s.amx)
      lines.push(
        `with the AMX permission: sigaltstack() takes more than ${s.amx.sigaltstackMin - 1} bytes, ARCH_REQ_XCOMP_PERM wants every sigaltstack at least ${s.amx.permissionMin} (sigframe probe measures both)`,
      );
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
