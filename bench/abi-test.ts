/**
 * One `abi-test` boot with every case, under TCG, as a whole process (`bin/sigframe.js abi-test
 * --kernel K --accel tcg`), against what booting the same kernel costs anyway: QEMU with the same
 * CPU model booting the bzImage as distributions boot it, with the same initramfs and no /init to
 * run (`rdinit=` names a missing file: the kernel panics at its first userspace step and QEMU ends).
 * The target: under 20 s on these machines.
 *
 * The kernel: SIGFRAME_BENCH_KERNEL, else SIGFRAME_TEST_KERNEL (.ci/run), else the newest
 * /boot/vmlinuz-*; without one the benchmark says so and is left out.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { initramfsPath, QEMU } from "../src/node/qemu.ts";
import { type ProcessCommand, type ProcessTiming, timeProcesses } from "./process.ts";
import { sigframe } from "./startup.ts";

export interface AbiTestTiming {
  kernel: string;
  ours: ProcessTiming;
  baseline: ProcessTiming;
  ratio: number;
  /** Seconds. */
  target: number;
}

function findKernel(): string | undefined {
  const env = process.env.SIGFRAME_BENCH_KERNEL || process.env.SIGFRAME_TEST_KERNEL;
  if (env) return env;
  if (!existsSync("/boot")) return undefined;
  const k = readdirSync("/boot")
    .filter((f) => f.startsWith("vmlinuz-"))
    .sort()
    .pop();
  return k ? join("/boot", k) : undefined;
}

/** The timing, or why it was not measured. */
export function abiTestTiming(env: NodeJS.ProcessEnv, runs: number): AbiTestTiming | string {
  const kernel = findKernel();
  if (!kernel) return "no kernel: set SIGFRAME_BENCH_KERNEL to a vmlinuz";
  if (spawnSync(QEMU, ["--version"]).status !== 0) return `${QEMU} is not installed`;
  const initrd = initramfsPath().path;
  const ours: ProcessCommand = {
    label: "sigframe abi-test (every case)",
    argv: sigframe("abi-test", "--kernel", kernel, "--accel", "tcg", "--cpu-model", "max", "--json"),
    env,
  };
  const baseline: ProcessCommand = {
    label: "qemu boot of the bzImage, no init",
    argv: [
      QEMU,
      "-nodefaults",
      "-no-user-config",
      "-display",
      "none",
      "-no-reboot",
      "-machine",
      "q35",
      "-accel",
      "tcg",
      "-cpu",
      "max",
      "-m",
      "512",
      "-kernel",
      kernel,
      "-initrd",
      initrd,
      "-append",
      "console=ttyS0 quiet panic=-1 mitigations=off no_timer_check rdinit=/sigframe-bench-no-init init=/sigframe-bench-no-init",
      "-serial",
      "null",
    ],
    env,
  };
  // One untimed round: the first abi-test of a kernel decompresses it into the cache.
  const [o, b] = timeProcesses([ours, baseline], runs, 1);
  return { kernel, ours: o!, baseline: b!, ratio: o!.wallMs / b!.wallMs, target: 20 };
}
