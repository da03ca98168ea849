/**
 * The `--json` runs of the commands that need this machine: `probe` (the native helper; QEMU
 * linux-user for `--under`). Each is skipped, with the reason, where the machine lacks what it
 * needs. `abi-test`'s document is checked by test/node/abi-test.test.ts, in the boot it makes.
 */
import { spawnSync } from "node:child_process";
import { helperStatus } from "../../src/node/native.ts";

const has = (cmd: string) => {
  const r = spawnSync(cmd, ["--version"], { encoding: "utf8" });
  return !r.error && r.status === 0;
};

const runs: Record<string, string[][]> = {
  probe: [
    ["probe", "--cases", "untouched,policy-separator,null-fpstate", "--json"],
    ["probe", "--list", "--json"],
    [
      "probe",
      "--under",
      "qemu-x86_64 -cpu max",
      "--cases",
      "untouched,mxcsr-reserved,null-fpstate",
      "--json",
    ],
  ],
  // Its document is validated against the schema by the boot test/node/abi-test.test.ts makes
  // anyway: a TCG boot costs CI some 15 s, so there is no second one here.
  "abi-test": [],
};

function skip(argv: readonly string[]): string | undefined {
  if (argv[0] === "probe") {
    const h = helperStatus();
    if (!h.ok) return h.reason;
    if (argv.includes("--under") && !has("qemu-x86_64"))
      return "qemu-x86_64 is not installed (Debian: qemu-user)";
  }
  return undefined;
}

export const machineRuns = { runs, skip };
