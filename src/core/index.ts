/**
 * sigframe's library API (`import … from "sigframe"`): pure TypeScript over `Uint8Array`, no Node
 * imports, so the same functions run in Node, in tests and in the browser. Each command of the CLI
 * is one request → report function here, with the report's JSON form beside it (the `--json`
 * document, schema in docs/json/); the CLI only parses flags and renders. Reading files, stdin,
 * the native helper and child processes is Node's part: `sigframe/node`.
 *
 * Exports are grouped by area (archive, compat, cpuid, criu, elf, errors, probe, profiles, scan,
 * sigframe, sigreturn, xsave). What is not exported here is internal and may change between versions.
 */

export { type ArchiveListing, listArchive, readArchiveMember } from "./archive/members.ts";
export { profileFromStream } from "./archive/profile.ts";
export { type ArchiveScanResult, scanCheckpointArchive } from "./archive/scan.ts";
export { type ByteStream, fromWebReadable, readStream } from "./archive/streams.ts";
export {
  type CheckEnv,
  type CheckJson,
  type CheckReport,
  type CheckRequest,
  checkHosts,
  checkJson,
} from "./compat/check-hosts.ts";
export type { Finding, FindingCode } from "./compat/findings.ts";
export {
  type BaselineJson,
  baselineJson,
  baselineReport,
  type FleetEnv,
  loadFleet,
  type MatrixJson,
  type MatrixReport,
  type MatrixRequest,
  matrixCsv,
  matrixJson,
  matrixReport,
  type PolicyDiffJson,
  type PolicyDiffRequest,
  policyDiffJson,
  policyDiffReport,
} from "./compat/fleet-report.ts";
export { Cpuid, type CpuidLeaf } from "./cpuid/cpuid.ts";
export { decodeImage } from "./criu/handlers.ts";
export type { DecodedImage } from "./criu/message.ts";
export { type CritImageJson, critImage, critJson } from "./criu/render.ts";
export { type OpenCore, openCore } from "./elf/index.ts";
export {
  EnvironmentError,
  type ErrorKind,
  type ErrorLocation,
  InvalidDataError,
  isSigframeError,
  oneLineText,
  SigframeError,
  TruncatedInputError,
  UsageError,
} from "./errors.ts";
export { hex, parseU64, toJson } from "./hex.ts";
export { type KernelVersion, parseKernelVersion } from "./kernel.ts";
export { type ProbeJson, probeJson } from "./probe/report.ts";
export { describeProfile, type Profile, profileFromCpuid, profileSummary } from "./profile.ts";
export { BUILTIN_PROFILES, type BuiltinProfile, builtinProfile } from "./profiles/builtins.ts";
export { MAX_PROFILE_BYTES, profileFromBytes } from "./profiles/detect.ts";
export { detectFormat, type InputFormat } from "./profiles/formats.ts";
export { type ProfileJson, profileToJson } from "./profiles/to-json.ts";
export {
  type ScanJson,
  type ScanReport,
  scanJson,
  scanReportJson,
} from "./scan/report.ts";
export { type FoundFrame, type ScanOptions, type ScanResult, scanMemory } from "./scan/scan.ts";
export {
  checkpointTarget,
  elfCoreTarget,
  type ProcessScan,
  rawTarget,
  type ScanTarget,
  scanTarget,
} from "./scan/targets.ts";
export {
  type BuildOptions,
  type BuildResult,
  buildFpstate,
  buildFrame,
} from "./sigframe/build.ts";
export {
  decodeSigframeImage,
  encodeSigframeImage,
  type RtSigframe,
  type SigframeImage,
} from "./sigframe/frame.ts";
export { type FrameInput, frameInput } from "./sigframe/input.ts";
export {
  type BuildReport,
  type BuildRequest,
  buildReport,
  type FrameEnv,
  type InspectJson,
  type InspectReport,
  type InspectRequest,
  inspectJson,
  inspectReport,
  type PredictJson,
  type PredictReport,
  type PredictRequest,
  predictJson,
  predictReport,
} from "./sigframe/report.ts";
export {
  type TranslateEnv,
  type TranslateJson,
  type TranslateReport,
  type TranslateRequest,
  translateJson,
  translateReport,
} from "./sigframe/translate/report.ts";
export { translateFpstate, translateSigframeImage } from "./sigframe/translate/translate.ts";
export {
  choosePolicies,
  losesState,
  type PolicyChoice,
  parsePolicy,
  policiesForKernel,
  predict,
  REASONS,
  type ReasonCode,
} from "./sigreturn/index.ts";
export type { Policy, Prediction } from "./sigreturn/types.ts";
export type { ByteSource } from "./source.ts";
export { bytesSource } from "./source.ts";
export { type ComponentDiff, diffLayouts, type LayoutDiff } from "./xsave/diff.ts";
export { computeLayout, type LayoutOptions, type XComponent, type XsaveLayout } from "./xsave/layout.ts";
export { profileLayout } from "./xsave/options.ts";
export {
  builtinProfileRows,
  type DiffJson,
  type DiffReport,
  type DiffRequest,
  diffJson,
  diffReport,
  type LayoutJson,
  type LayoutReport,
  type LayoutRequest,
  layoutJson,
  layoutReport,
  type ProfileEnv,
  type ProfilesJson,
} from "./xsave/report.ts";
