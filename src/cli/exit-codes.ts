/**
 * The exit codes each command's `--help` lists (the contract's table: 0 fine, 1 warnings, 2 usage
 * or bad input, 3 incompatible or unsafe, 4 the environment cannot do it), for the commands whose
 * description does not say them itself.
 */
const BAD = "2 bad input or usage";
const ENV =
  "4 the environment cannot do it (host or a live measurement without the native helper, not x86-64)";

export const EXIT_CODES: Readonly<Record<string, string>> = {
  profiles: "0 listed",
  layout: `0 shown, ${BAD}, ${ENV}`,
  diff: `0 shown (with --fail-on-difference: 0 identical layouts, 1 they differ), ${BAD}, ${ENV}`,
  build: `0 written (warnings on stderr), ${BAD}`,
  predict: `0 predicted, 3 with --fail-on-loss when state is lost or the restore is fatal, ${BAD}, ${ENV}`,
  host: `0 captured, ${ENV}`,
  probe: `0 every case as the model predicts, 1 a case departs from it, ${BAD}, ${ENV}`,
  baseline: `0 computed, ${BAD}, ${ENV}`,
  matrix: `0 computed (the verdicts are in the table), ${BAD}, ${ENV}`,
  "policy-diff": `0 compared, ${BAD}`,
  scan: `0 scanned, ${BAD}`,
  criu: `0 decoded, ${BAD}`,
  serve: `0 stopped, ${BAD}`,
};

/** The help text to append, or undefined when the description already lists the codes. */
export function exitCodesHelp(name: string, description: string): string | undefined {
  if (/Exit codes:/.test(description)) return undefined;
  const codes = EXIT_CODES[name];
  return codes ? `\nExit codes: ${codes}.\n` : undefined;
}
