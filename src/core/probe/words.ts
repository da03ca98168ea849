/**
 * A probe observation in words, for the deviation lists: the six region letters (classify.ts) or
 * how the task ended.
 */
import { REGION_NAMES } from "./regions.ts";

const LETTER: Record<string, string> = {
  F: "from the frame",
  A: "unchanged since before the signal",
  "0": "reset to init",
  C: "read at the compacted-form offsets",
  M: "loaded from the frame's bytes as they are, not the values written there (magic2, a reserved bit)",
  "?": "something else",
};

const REGION_TEXT: Record<string, string> = {
  XMM: "XMM",
  YMMH: "YMM upper halves",
  ZMMH: "ZMM upper halves",
  HI16: "zmm16-31",
  K: "k0-7",
  MXCSR: "MXCSR",
};

/** "killed by SIGSEGV", "x87/SSE from the frame, the rest reset to init (FX-only)", … */
export function describeObserved(observed: string): string {
  if (/^SIG[A-Z0-9]+$/.test(observed)) return `killed by ${observed}`;
  if (observed === "crashed") return "the runtime itself died (not only the task)";
  if (observed === "timeout") return "hung; killed after the timeout";
  if (observed === "missing") return "nothing was reported";
  const exit = /^exit (.+)$/.exec(observed);
  if (exit) return `exited with status ${exit[1]} before reading its registers back`;
  if (observed.length !== REGION_NAMES.length) return observed;
  const present = REGION_NAMES.map((r, i) => [r, observed[i]!] as const).filter(([, l]) => l !== "-");
  const letters = present.map(([, l]) => l);
  const all = (l: string) => letters.every((x) => x === l);
  if (all("F")) return "every register from the frame";
  if (all("A")) return "nothing restored: every register kept its value from before the signal";
  if (all("0")) return "every register reset to init";
  const at = (r: string) => present.find(([n]) => n === r)?.[1];
  const rest = present.filter(([n]) => n !== "XMM" && n !== "MXCSR" && n !== "YMMH");
  if (at("XMM") === "F" && at("MXCSR") === "F" && rest.every(([, l]) => l === "0")) {
    if (at("YMMH") === "0") return "XMM and MXCSR from the frame, the rest reset to init (FX-only)";
    if (at("YMMH") === "F" && rest.length) return "x87/SSE/AVX from the frame, AVX-512 state reset to init";
  }
  // Region by region, grouped by what came back.
  const groups = new Map<string, string[]>();
  for (const [r, l] of present) groups.set(l, [...(groups.get(l) ?? []), REGION_TEXT[r]!]);
  return [...groups].map(([l, rs]) => `${rs.join(", ")} ${LETTER[l] ?? l}`).join("; ");
}
