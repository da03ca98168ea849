/**
 * sigframe's Node API (`import … from "sigframe/node"`): what the core's request → report
 * functions need from the machine, as the CLI passes it to them: PROFILE arguments read from files,
 * checkpoints and `host`; checkpoints, cores and raw images opened and scanned; the running
 * kernel's sigreturn policy measured with the native helper; probes run natively or under another
 * runtime. The computations themselves are in `sigframe` (src/core).
 *
 *   const report = await checkHosts({ from: "amd-zen5", to: "host" },
 *     { loadProfile, checkpointFrames: loadCheckpointFrames, measurePolicy: measuredHostPolicy });
 */

export { runAbiTest } from "./abi-test.ts";
export { loadCheckpointFrames } from "./checkpoint-frames.ts";
export { readInput, writeOutputAtomic } from "./files.ts";
export { helperStatus } from "./native.ts";
export { measuredHostPolicy, runProbe } from "./probe.ts";
export { runProbeUnder } from "./probe-under.ts";
export { loadProfile } from "./profile-arg.ts";
export { HOST_PROVIDERS, hostProfile } from "./profile-source.ts";
export { openScanTarget, type ScanInputOptions, type ScannedInput, scanInput } from "./scan-target.ts";
