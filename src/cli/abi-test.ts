/** `sigframe abi-test`: boot a kernel under QEMU with the probe as /init; name its sigreturn policy. */
import type { Command } from "commander";
import { UsageError } from "../core/errors.ts";
import { toJson } from "../core/hex.ts";
import { type AbiTestReport, abiTestJson } from "../core/probe/abi-test.ts";
import { parseCaseList } from "../core/probe/report.ts";
import { runAbiTest } from "../node/abi-test.ts";
import { foreignCases } from "../node/frame-file.ts";
import type { CliContext } from "./context.ts";
import { machineLine, renderProbe } from "./probe.ts";

interface AbiTestFlags {
  kernel: string;
  cpuModel?: string[];
  foreign?: string[];
  accel: string;
  cases?: string;
  bootTimeout: string;
  json?: boolean;
}

function render(ctx: CliContext, r: AbiTestReport): string {
  const { c } = ctx;
  const lines = [
    c.bold(`abi-test of ${r.image}: kernel ${r.kernel}`) +
      `   QEMU ${r.qemu.version}, ${r.qemu.accel}${r.qemu.accelNote ? ` (${r.qemu.accelNote})` : ""}`,
    r.qemu.boot === "pvh"
      ? "booted through the PVH entry of the decompressed kernel (no decompressor run under emulation)"
      : `booted as a bzImage${r.qemu.bootNote ? ` (${r.qemu.bootNote.replace(/: booted as a bzImage$/, "")})` : ""}`,
  ];
  if (r.limits.length) {
    lines.push("TCG limits:");
    for (const l of r.limits) lines.push(`  - ${l}`);
  }
  r.boots.forEach((b, i) => {
    lines.push(
      "",
      c.bold(`boot ${i + 1} of ${r.boots.length}: -cpu ${b.model}`) +
        ` (reached /init in ${b.bootSeconds.toFixed(1)} s, cases ran in ${b.probeSeconds.toFixed(1)} s)`,
    );
    lines.push(
      renderProbe(ctx, b.probe, machineLine(ctx, b.probe, `kernel ${b.kernel} in qemu -cpu ${b.model}`)),
    );
    if (b.departures.length === 0) {
      lines.push(`departures from classic: none`);
    } else {
      lines.push(c.bold(`departures from classic (${b.departures.length}):`));
      for (const d of b.departures) {
        lines.push(`  ${c.bold(d.id)}: ${d.description}`);
        lines.push(`    classic: ${d.linux.observed.padEnd(7)}  ${d.linux.meaning}`);
        lines.push(`    guest:   ${d.runtime.observed.padEnd(7)}  ${d.runtime.meaning}`);
      }
    }
  });
  lines.push("");
  const n = r.boots.length;
  if (r.policy !== "unknown") {
    lines.push(
      c.bold(`policy: ${r.policy}`) +
        ` (the guest's own results${n > 1 ? ` in all ${n} boots` : ""}: every case matches the ${r.policy} model)`,
    );
  } else if (r.candidates.length > 1) {
    lines.push(
      c.bold("policy: unknown") +
        ` (the cases match ${r.candidates.join(" and ")} alike: they do not tell them apart)`,
    );
  } else {
    lines.push(c.bold(c.red("policy: unknown")) + " (no policy matches every case of every boot)");
  }
  return lines.join("\n");
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command("abi-test")
    .description(
      "boot a kernel under qemu-system-x86_64 with the probe as /init; the policy its sigreturn implements, from the guest's own results",
    )
    .requiredOption("--kernel <VMLINUZ>", "the kernel image (bzImage), e.g. a distribution's /boot/vmlinuz-*")
    .option(
      "--cpu-model <MODEL>",
      "QEMU -cpu model, one boot each (repeatable; default: host under KVM, max under TCG)",
      (v: string, prev: string[] | undefined) => [...(prev ?? []), v],
    )
    .option(
      "--foreign <FRAME...>",
      "recorded frames (from build, scan, another host) handed to the guest's sigreturn",
    )
    .option("--accel <auto|kvm|tcg>", "KVM where it can run the guest, else TCG", "auto")
    .option("--cases <LIST>", "comma-separated case ids to run (default: all)")
    .option("--boot-timeout <SECONDS>", "time for the kernel to reach /init", "120")
    .option("--json", "JSON output")
    .action(async (flags: AbiTestFlags) => {
      if (!["auto", "kvm", "tcg"].includes(flags.accel))
        throw new UsageError(`expected auto, kvm or tcg, not ${JSON.stringify(flags.accel)}`, {
          input: "--accel",
        });
      const timeout = Number(flags.bootTimeout);
      if (!Number.isFinite(timeout) || timeout <= 0 || timeout > 3600)
        throw new UsageError("expected seconds between 1 and 3600", { input: "--boot-timeout" });
      const ids = parseCaseList(flags.cases);
      const foreign = foreignCases(flags.foreign);
      const r = await runAbiTest({
        kernel: flags.kernel,
        ...(flags.cpuModel ? { cpuModels: flags.cpuModel } : {}),
        foreign,
        accel: flags.accel as "auto",
        ...(ids ? { cases: ids } : {}),
        bootTimeout: timeout,
      });
      ctx.out(flags.json ? toJson(abiTestJson(r)) : render(ctx, r));
      if (r.boots.some((b) => b.probe.verdict.mismatches > 0) || r.candidates.length === 0) ctx.setExit(1);
    });
}
