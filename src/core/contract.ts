/**
 * The `--json` document of every command, one type each: the contract. The JSON Schemas in
 * docs/json/ are generated from this interface (`npm run gen:json-schema`), and the tests check
 * that they are current and that every command's output is valid against its schema. 64-bit
 * values are `bigint` here and `"0x…"` strings in the documents (`toJson`).
 */

import type { CheckJson } from "./compat/check-hosts.ts";
import type { BaselineJson, MatrixJson, PolicyDiffJson } from "./compat/fleet-report.ts";
import type { CheckpointListingJson, CritImageJson } from "./criu/render.ts";
import type { AbiTestJson } from "./probe/abi-test.ts";
import type { ConformanceJson } from "./probe/conformance.ts";
import type { ProbeCaseListJson, ProbeJson } from "./probe/report.ts";
import type { ProfileJson } from "./profiles/to-json.ts";
import type { ScanJson } from "./scan/report.ts";
import type { InspectJson, PredictJson } from "./sigframe/report.ts";
import type { TranslateJson } from "./sigframe/translate/report.ts";
import type { DiffJson, LayoutJson, ProfilesJson } from "./xsave/report.ts";

export interface JsonContract {
  /** The built-in profiles: name, CPU, XCR0 and frame sizes. */
  profiles: ProfilesJson;
  /** One CPU's XSAVE layout as Linux sets it up, and its signal-frame sizes. */
  layout: LayoutJson;
  /** Two CPUs' layouts compared component by component. */
  diff: DiffJson;
  /** A frame decoded field by field, with what is inconsistent in it. */
  inspect: InspectJson;
  /** What rt_sigreturn does with a frame's FPU state, per kernel policy. */
  predict: PredictJson;
  /** Will state restore correctly on the destination? Findings, per-policy verdicts, CRIU's answer. */
  check: CheckJson;
  /** The largest feature set whose XSAVE state is portable across hosts. */
  baseline: BaselineJson;
  /** The check verdict for every ordered pair of hosts. */
  matrix: MatrixJson;
  /** Frames whose sigreturn outcome differs between two policies, grouped by cause. */
  "policy-diff": PolicyDiffJson;
  /** This machine as a sigframe-profile/1 document. */
  host: ProfileJson;
  /** The live signal frames of each thread of a checkpoint, core or raw image. */
  scan: ScanJson;
  /** One CRIU image as `crit decode --pretty` gives it; given a checkpoint, its members. */
  "criu show": CritImageJson | CheckpointListingJson;
  /** A frame's XSAVE state moved to another CPU's layout: per component, MXCSR, sigreturn there. */
  translate: TranslateJson;
  /**
   * Frame cases run on this kernel, compared with the model under every policy; with `--under`,
   * run by another Linux-ABI runtime and compared with Linux (`under`, `reference`, `deviations`);
   * with `--list`, the cases without running them.
   */
  probe: ProbeJson | ConformanceJson | ProbeCaseListJson[];
  /** A kernel booted under QEMU with the probe as /init: its policy from the guest's results, per boot. */
  "abi-test": AbiTestJson;
}
