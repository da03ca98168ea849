/**
 * The `--json` runs of the commands that need this machine: `probe` (the native helper; QEMU
 * linux-user for `--under`) and `abi-test` (qemu-system-x86_64 and a kernel image from
 * SIGFRAME_TEST_KERNEL, which .ci/run sets). Each is skipped, with the reason, where the machine
 * lacks what it needs.
 */
import { spawnSync } from "node:child_process";
import { helperStatus, staticHelperStatus } from "../../src/node/native.ts";

const has = (cmd: string) => {
  const r = spawnSync(cmd, ["--version"], { encoding: "utf8" });
  return !r.error && r.status === 0;
};
const kernel = process.env.SIGFRAME_TEST_KERNEL;

const runs: Record<string, string[][]> = {
  probe: [
    ["probe", "--cases", "untouched,policy-separator,null-fpstate", "--json"],
    [
      "probe",
      "--under",
      "qemu-x86_64 -cpu max",
      "--cases",
      "untouched,mxcsr-reserved,null-fpstate",
      "--json",
    ],
  ],
  "abi-test": [
    [
      "abi-test",
      "--kernel",
      kernel ?? "(SIGFRAME_TEST_KERNEL)",
      "--accel",
      "tcg",
      "--cases",
      "untouched,policy-separator",
      "--json",
    ],
  ],
};

function skip(argv: readonly string[]): string | undefined {
  if (argv[0] === "probe") {
    const h = helperStatus();
    if (!h.ok) return h.reason;
    if (argv.includes("--under") && !has("qemu-x86_64"))
      return "qemu-x86_64 is not installed (Debian: qemu-user)";
  }
  if (argv[0] === "abi-test") {
    if (!kernel) return "SIGFRAME_TEST_KERNEL is not set (.ci/run sets it to Debian's vmlinuz)";
    if (!has("qemu-system-x86_64")) return "qemu-system-x86_64 is not installed (Debian: qemu-system-x86)";
    const s = staticHelperStatus();
    if (!s.ok) return s.reason;
  }
  return undefined;
}

export const machineRuns = { runs, skip };
