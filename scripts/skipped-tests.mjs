/**
 * A node:test reporter that prints, after the run, how many tests were skipped and why (grouped by
 * reason, most frequent first) as TAP comments, so a run without ../shared, cpuid, crit or chromium
 * says what it did not exercise. `npm run unit` uses it beside the TAP reporter.
 */
export default async function* skippedTests(source) {
  const reasons = new Map();
  let ran = 0;
  let skipped = 0;
  const summary = () => {
    const lines = [`# skipped tests: ${skipped} of ${ran + skipped}`];
    for (const [why, n] of [...reasons].sort((a, b) => b[1] - a[1])) lines.push(`#   ${n}  ${why}`);
    return `${lines.join("\n")}\n`;
  };
  let said = false;
  for await (const event of source) {
    // Every event is consumed to the end: a reporter that stops reading aborts the run's stream.
    if (said) continue;
    // The run summary's last line (`todo N`): say it right after the summary.
    if (
      event.type === "test:diagnostic" &&
      event.data.nesting === 0 &&
      /^todo \d+$/.test(event.data.message)
    ) {
      said = true;
      yield summary();
      continue;
    }
    if (event.type !== "test:pass" && event.type !== "test:fail") continue;
    // Suites (describe) are counted through their tests.
    if (event.data.details?.type === "suite") continue;
    if (event.data.skip === undefined || event.data.skip === false) {
      ran++;
      continue;
    }
    skipped++;
    const why = typeof event.data.skip === "string" ? event.data.skip : "(no reason given)";
    reasons.set(why, (reasons.get(why) ?? 0) + 1);
  }
  if (!said) yield summary();
}
