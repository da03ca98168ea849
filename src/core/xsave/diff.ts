/** Per-component comparison of two XSAVE layouts (the seed of the migration check). */
import { hex } from "../hex.ts";
import type { XComponent, XsaveLayout } from "./layout.ts";

export type ComponentDiffStatus =
  | "same"
  | "only-a"
  | "only-b"
  | "different-offset"
  | "different-size"
  | "neither";

export interface ComponentDiff {
  bit: number;
  name: string;
  status: ComponentDiffStatus;
  a: { offset: number; size: number } | null;
  b: { offset: number; size: number } | null;
}

export interface LayoutDiff {
  a: { profile: XsaveLayout["profile"]; xcr0: string; userSize: number; maxUserSize: number };
  b: { profile: XsaveLayout["profile"]; xcr0: string; userSize: number; maxUserSize: number };
  /** Enabled user components of either side, ascending by bit. */
  components: ComponentDiff[];
  /** Same enabled set, offsets and sizes: a frame from one is a frame of the other. */
  identical: boolean;
}

function side(c: XComponent | undefined): { offset: number; size: number } | null {
  return c?.enabled ? { offset: c.offset, size: c.size } : null;
}

export function diffLayouts(a: XsaveLayout, b: XsaveLayout): LayoutDiff {
  const bits = new Set<number>();
  for (const c of [...a.components, ...b.components]) if (c.enabled) bits.add(c.bit);
  const components: ComponentDiff[] = [];
  for (const bitNo of [...bits].sort((x, y) => x - y)) {
    const ca = a.components.find((c) => c.bit === bitNo);
    const cb = b.components.find((c) => c.bit === bitNo);
    const sa = side(ca);
    const sb = side(cb);
    let status: ComponentDiffStatus;
    if (sa && sb)
      status = sa.offset !== sb.offset ? "different-offset" : sa.size !== sb.size ? "different-size" : "same";
    else if (sa) status = "only-a";
    else if (sb) status = "only-b";
    else status = "neither";
    components.push({ bit: bitNo, name: (ca ?? cb)!.name, status, a: sa, b: sb });
  }
  const summary = (l: XsaveLayout) => ({
    profile: l.profile,
    xcr0: hex(l.xcr0),
    userSize: l.userSize,
    maxUserSize: l.maxUserSize,
  });
  return {
    a: summary(a),
    b: summary(b),
    components,
    identical: components.every((c) => c.status === "same") && a.userSize === b.userSize,
  };
}
