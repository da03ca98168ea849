/** Migration verdicts: check, baseline, matrix, policy-diff. */

export * from "./baseline.ts";
export * from "./check.ts";
export * from "./criu.ts";
export * from "./evaluate.ts";
export * from "./findings.ts";
export * from "./frames.ts";
export * from "./matrix.ts";
export * from "./policy-diff.ts";
export * from "./static-findings.ts";
