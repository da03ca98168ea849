/** Migration verdicts: check, baseline, matrix, policy-diff. */
export * from "./check.ts";
export * from "./criu.ts";
export * from "./findings.ts";
export * from "./frames.ts";
