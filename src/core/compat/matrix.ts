/**
 * `matrix`: the check verdict for every ordered pair of N hosts. Hosts whose layouts are identical
 * in everything the check looks at form one group and the check runs once per pair of groups,
 * so a corpus of hundreds of dumps costs as many checks as it has distinct layouts, squared.
 */
import { type MxcsrMaskInput, resolveMxcsrMask } from "../mxcsr.ts";
import { POLICIES, type Policy } from "../sigreturn/types.ts";
import type { XsaveLayout } from "../xsave/layout.ts";
import { type CheckResult, checkCompat, type Verdict } from "./check.ts";
import type { Predictor } from "./evaluate.ts";

export interface MatrixHost {
  name: string;
  layout: XsaveLayout;
  /** Measured (a number, or `mxcsrMaskOf()`) or estimated; absent: assumed 0xffff. */
  mxcsrMask?: MxcsrMaskInput;
}

export interface MatrixGroup {
  id: string;
  members: string[];
  userSize: number;
  xcr0: bigint;
  userFeatures: bigint;
}

export interface MatrixCell extends Verdict {
  /** Finding codes behind the verdict (errors and warnings), deduplicated. */
  codes: string[];
}

export interface MatrixResult {
  hosts: string[];
  /** Group index of each host. */
  groupOf: number[];
  groups: MatrixGroup[];
  /** cells[i][j]: from group i to group j. */
  cells: MatrixCell[][];
  policies: Policy[];
}

/** Everything of a layout the check reads; equal keys give equal verdicts. */
export function layoutKey(l: XsaveLayout, mxcsrMask?: MxcsrMaskInput): string {
  const mx = resolveMxcsrMask(mxcsrMask);
  const comps = l.components
    .filter((c) => !c.supervisor && (c.inXcr0 || c.enabled))
    .map((c) => `${c.bit}:${c.offset}:${c.size}:${c.enabled ? 1 : 0}`)
    .join(",");
  return [
    l.xsave ? 1 : 0,
    l.xcr0.toString(16),
    l.userFeatures.toString(16),
    l.userSize,
    l.maxUserSize,
    l.maxSize,
    `${mx.value.toString(16)}${mx.estimated ? "~" : ""}`,
    comps,
  ].join("|");
}

export interface MatrixOptions {
  predict: Predictor;
  policies?: Policy[];
  /** Called for each group pair (for progress or to keep the full results). */
  onCheck?: (i: number, j: number, r: CheckResult) => void;
}

export function groupHosts(hosts: MatrixHost[]): {
  groups: MatrixGroup[];
  groupOf: number[];
  reps: MatrixHost[];
} {
  const index = new Map<string, number>();
  const groups: MatrixGroup[] = [];
  const reps: MatrixHost[] = [];
  const groupOf: number[] = [];
  for (const h of hosts) {
    const k = layoutKey(h.layout, h.mxcsrMask);
    let g = index.get(k);
    if (g === undefined) {
      g = groups.length;
      index.set(k, g);
      groups.push({
        id: `L${g + 1}`,
        members: [],
        userSize: h.layout.userSize,
        xcr0: h.layout.xcr0,
        userFeatures: h.layout.userFeatures,
      });
      reps.push(h);
    }
    groups[g]!.members.push(h.name);
    groupOf.push(g);
  }
  return { groups, groupOf, reps };
}

export function matrix(hosts: MatrixHost[], opts: MatrixOptions): MatrixResult {
  const { groups, groupOf, reps } = groupHosts(hosts);
  const cells: MatrixCell[][] = [];
  for (let i = 0; i < reps.length; i++) {
    const row: MatrixCell[] = [];
    for (let j = 0; j < reps.length; j++) {
      const a = reps[i]!;
      const b = reps[j]!;
      const input: Parameters<typeof checkCompat>[0] = {
        from: a.layout,
        to: b.layout,
        predict: opts.predict,
        names: { from: a.name, to: b.name },
      };
      if (opts.policies) input.policies = opts.policies;
      if (a.mxcsrMask !== undefined) input.fromMxcsrMask = a.mxcsrMask;
      if (b.mxcsrMask !== undefined) input.toMxcsrMask = b.mxcsrMask;
      const r = checkCompat(input);
      opts.onCheck?.(i, j, r);
      const codes = [...new Set(r.findings.filter((f) => f.severity !== "info").map((f) => f.code))];
      row.push({ verdict: r.verdict, exitCode: r.exitCode, codes });
    }
    cells.push(row);
  }
  return {
    hosts: hosts.map((h) => h.name),
    groupOf,
    groups,
    cells,
    policies: opts.policies ?? [...POLICIES],
  };
}

/** The verdict from host i to host j of the original list. */
export function cellFor(m: MatrixResult, i: number, j: number): MatrixCell {
  return m.cells[m.groupOf[i]!]![m.groupOf[j]!]!;
}
