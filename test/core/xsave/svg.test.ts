/**
 * Byte maps (`layout --svg`, `diff --svg`, `inspect --svg`, and the explorer's): an offset axis
 * whose ticks sit where the bars put those offsets, and a legend naming every colour drawn.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { memoryIo } from "../../../src/cli/context.ts";
import { run } from "../../../src/cli/main.ts";
import { builtinProfile } from "../../../src/core/profiles/detect.ts";
import { buildFrame, decodeFpstate, emptyState, setRegister } from "../../../src/core/sigframe/index.ts";
import { fpstateSvg } from "../../../src/core/sigframe/svg.ts";
import { computeLayout } from "../../../src/core/xsave/layout.ts";
import { layoutSvg, tickStep } from "../../../src/core/xsave/svg.ts";
import { assertWellFormedSvg } from "../../helpers/svg.ts";

/** The axes of a picture: per axis, tick offset → x. */
function axes(svg: string): Map<number, number>[] {
  return svg
    .split('<g class="axis"')
    .slice(1)
    .map(
      (part) =>
        new Map(
          [...part.split("</g>")[0]!.matchAll(/class="tick" data-offset="(\d+)" x1="([\d.]+)"/g)].map((m) => [
            Number(m[1]),
            Number(m[2]),
          ]),
        ),
    );
}

function legendLabels(svg: string): string[] {
  const g = svg.split('<g class="legend">')[1]?.split("</g>")[0] ?? "";
  return [...g.matchAll(/class="legend-item"[^>]*>([^<]*)</g)].map((m) => m[1]!);
}

/** Where each component's rectangle starts, by the offset its tooltip states. */
function componentRects(svg: string, tip: RegExp): { offset: number; x: number }[] {
  return [...svg.matchAll(/<rect x="([\d.]+)"[^>]*><title>([^<]*)<\/title>/g)].flatMap((m) => {
    const t = tip.exec(m[2]!);
    return t ? [{ offset: Number(t[1]), x: Number(m[1]) }] : [];
  });
}

/** Each rectangle is where the axis puts its offset (within the picture's rounding). */
function assertOnAxis(axis: Map<number, number>, rects: { offset: number; x: number }[]): void {
  const ticks = [...axis].sort((a, b) => a[0] - b[0]);
  assert.ok(ticks.length >= 4, `${ticks.length} ticks`);
  assert.equal(ticks[0]![0], 0);
  // The scale from the outermost ticks (each x is rounded to 0.1 px).
  const [o1, x1] = ticks[ticks.length - 1]!;
  const x0 = ticks[0]![1];
  const scale = (x1 - x0) / o1;
  for (const [o, x] of ticks) assert.ok(Math.abs(x - (x0 + o * scale)) < 0.15, `tick ${o} at ${x}`);
  assert.ok(rects.length > 0);
  for (const r of rects)
    assert.ok(Math.abs(r.x - (x0 + r.offset * scale)) < 0.2, `offset ${r.offset} drawn at ${r.x}`);
}

test("tick steps: powers of two from 64, at most 12 intervals", () => {
  assert.equal(tickStep(576), 64);
  assert.equal(tickStep(2440), 256);
  assert.equal(tickStep(11008), 1024);
  for (const span of [1, 512, 832, 2696, 11012, 65536]) {
    const s = tickStep(span);
    assert.ok(span / s <= 12 && (s === 64 || span / (s / 2) > 12), `${span}: ${s}`);
  }
});

test("layout byte maps: an axis under every bar that places each component at its offset, and a legend", () => {
  const bars = ["amd-zen5", "intel-icelake-server", "intel-sapphirerapids"].map((n) => ({
    label: n,
    layout: computeLayout(builtinProfile(n), { amx: n === "intel-sapphirerapids" }),
  }));
  const svg = layoutSvg(bars, "three CPUs");
  assertWellFormedSvg(svg);
  const ax = axes(svg);
  assert.equal(ax.length, bars.length);
  const rects = componentRects(svg, /^\d+ \w+: offset (\d+), size \d+$/);
  for (const a of ax) assertOnAxis(a, rects);
  // The last tick reaches the end of the widest layout (AMX: 11008).
  assert.ok(Math.max(...ax[0]!.keys()) + tickStep(11012) > 11008);
  const labels = legendLabels(svg);
  const drawn = new Set(bars.flatMap((b) => b.layout.components.filter((c) => c.enabled && c.size > 0)));
  for (const c of drawn) assert.ok(labels.includes(`${c.bit} ${c.name}`), `${c.name} in ${labels}`);
  assert.ok(labels.includes("magic2 at xstate_size") && labels.includes("_fpx_sw_bytes 464..511"));
  // Only what is drawn: Zen 5 alone has no tiles in its legend.
  const zen = legendLabels(layoutSvg([bars[0]!], "zen5"));
  assert.ok(!zen.some((l) => /XTILE/.test(l)), zen.join());
});

test("FPU area byte maps: components on the axis where they were read; init ones in the legend", () => {
  const l = computeLayout(builtinProfile("intel-icelake-server"));
  const st = emptyState();
  setRegister(st, "k1", 0xffn);
  const f = buildFrame({ style: "kernel", layout: l, state: st });
  const fp = decodeFpstate(f.bytes.subarray(f.fpstateOffset!), { layout: l });
  const svg = fpstateSvg(fp, "icx frame");
  assertWellFormedSvg(svg);
  const [axis, more] = axes(svg);
  assert.equal(more, undefined);
  assertOnAxis(axis!, componentRects(svg, /^\d+ \w+ at (\d+)\.\./));
  const labels = legendLabels(svg);
  for (const c of fp.components) assert.ok(labels.includes(`${c.bit} ${c.name}`), c.name);
  // k1 is set, the others are init: both kinds of box are explained.
  assert.ok(labels.includes("init (XSTATE_BV clear)"));
  assert.ok(labels.includes("magic2 at xstate_size"));
});

test("the CLI's --svg outputs carry the axis and the legend", async () => {
  for (const argv of [
    ["layout", "amd-zen4", "--svg"],
    ["diff", "amd-zen4", "intel-icelake-server", "--svg"],
  ]) {
    const io = memoryIo();
    assert.equal(await run(argv, io), 0, io.err);
    assert.equal(axes(io.out).length, argv[0] === "diff" ? 2 : 1, argv.join(" "));
    assert.ok(legendLabels(io.out).includes("5 OPMASK"), argv.join(" "));
  }
});
