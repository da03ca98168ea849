/**
 * SVG byte maps of XSAVE layouts: one bar per layout, components placed at their standard
 * offsets, so holes, overlaps and vendor differences are visible at a glance. Pure strings.
 */
import type { XsaveLayout } from "./layout.ts";

export const COMPONENT_COLORS: Record<string, string> = {
  x87: "#8d99ae",
  SSE: "#4361ee",
  YMM: "#4cc9f0",
  BNDREGS: "#adb5bd",
  BNDCSR: "#adb5bd",
  OPMASK: "#f72585",
  ZMM_Hi256: "#b5179e",
  Hi16_ZMM: "#7209b7",
  PKRU: "#f77f00",
  XTILECFG: "#2a9d8f",
  XTILEDATA: "#264653",
  APX: "#e9c46a",
  LWP: "#6c757d",
};

/** Monospace 11px: about 6.7 px a character. Labels are kept inside the picture. */
export function labelX(x: number, text: string, width: number): number {
  return Math.max(0, Math.min(x, width - 4 - text.length * 6.7));
}

export function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** Tick spacing for an offset axis over `span` bytes: a power of two from 64 giving at most 12 intervals. */
export function tickStep(span: number): number {
  let step = 64;
  while (span / step > 12) step *= 2;
  return step;
}

/**
 * An offset axis: a baseline from byte 0 to `span` at `y`, a tick with its byte offset at every
 * multiple of tickStep(span), and the unit. `x0` is where byte 0 is drawn, `scale` pixels a byte.
 */
export function offsetAxis(x0: number, scale: number, span: number, y: number, unit: string): string[] {
  const step = tickStep(span);
  const out = [
    `<g class="axis" fill="#495057" stroke="#495057">`,
    `<line x1="${x0.toFixed(1)}" x2="${(x0 + span * scale).toFixed(1)}" y1="${y}" y2="${y}" stroke-width="0.75"/>`,
  ];
  for (let o = 0; o <= span; o += step) {
    const x = (x0 + o * scale).toFixed(1);
    out.push(
      `<line class="tick" data-offset="${o}" x1="${x}" x2="${x}" y1="${y}" y2="${y + 4}" stroke-width="0.75"/>`,
      `<text x="${x}" y="${y + 15}" text-anchor="middle" stroke="none">${o}</text>`,
    );
  }
  out.push(`<text x="${x0.toFixed(1)}" y="${y + 29}" stroke="none">${esc(unit)}</text>`, "</g>");
  return out;
}

export interface LegendItem {
  label: string;
  /** A filled swatch, or `outline` for a dashed box, or `mark` for magic2's red bar. */
  fill: string;
  style?: "fill" | "outline" | "mark" | "line";
}

/** A legend of coloured swatches, wrapped into rows within `width`; returns the markup and its height. */
export function legend(
  items: readonly LegendItem[],
  x0: number,
  y0: number,
  width: number,
): { svg: string[]; height: number } {
  const out = [`<g class="legend">`];
  let x = x0;
  let y = y0;
  for (const it of items) {
    const w = 18 + it.label.length * 6.7 + 16;
    if (x + w > width - 10 && x > x0) {
      x = x0;
      y += 18;
    }
    const style = it.style ?? "fill";
    if (style === "fill")
      out.push(
        `<rect x="${x.toFixed(1)}" y="${y - 10}" width="12" height="12" fill="${it.fill}" fill-opacity="0.85" stroke="#212529" stroke-width="0.5"/>`,
      );
    else if (style === "outline")
      out.push(
        `<rect x="${x.toFixed(1)}" y="${y - 10}" width="12" height="12" fill="#ffffff" stroke="${it.fill}" stroke-width="1.5" stroke-dasharray="4 2"/>`,
      );
    else if (style === "mark")
      out.push(`<rect x="${(x + 4).toFixed(1)}" y="${y - 12}" width="4" height="16" fill="${it.fill}"/>`);
    else
      out.push(
        `<line x1="${(x + 6).toFixed(1)}" x2="${(x + 6).toFixed(1)}" y1="${y - 12}" y2="${y + 4}" stroke="${it.fill}" stroke-width="2" stroke-dasharray="3 2"/>`,
      );
    out.push(`<text class="legend-item" x="${(x + 18).toFixed(1)}" y="${y}">${esc(it.label)}</text>`);
    x += w;
  }
  out.push("</g>");
  return { svg: out, height: y - y0 + 18 };
}

interface Bar {
  label: string;
  layout: XsaveLayout;
}

/** What the colours of a layout byte map mean: the fixed regions, each component drawn, magic2. */
function layoutLegend(bars: readonly Bar[]): LegendItem[] {
  const drawn = new Map<number, string>();
  for (const b of bars)
    for (const c of b.layout.components) if (c.enabled && c.size > 0) drawn.set(c.bit, c.name);
  return [
    ...[...drawn]
      .sort((a, b) => a[0] - b[0])
      .map(([bit, name]) => ({
        label: `${bit} ${name}`,
        fill: COMPONENT_COLORS[name] ?? "#999999",
      })),
    { label: "_fpx_sw_bytes 464..511", fill: "#ffd166" },
    { label: "XSAVE header 512..575", fill: "#dee2e6" },
    { label: "unused", fill: "#f1f3f5" },
    { label: "magic2 at xstate_size", fill: "#d00000", style: "mark" },
  ];
}

/** Renders one or more layouts on a common byte scale. */
export function layoutSvg(bars: Bar[], title: string): string {
  const width = 1000;
  const left = 170;
  const barH = 34;
  // Below each bar: two rows of component labels, then the offset axis.
  const gap = 100;
  const top = 50;
  const span = Math.max(
    ...bars.map((b) =>
      Math.max(
        b.layout.userSize + 4,
        ...b.layout.components.filter((c) => c.enabled).map((c) => c.offset + c.size),
      ),
    ),
  );
  const scale = (width - left - 20) / span;
  const parts: string[] = [];
  const legendTop = top + bars.length * (barH + gap) - 6;
  const key = legend(layoutLegend(bars), 10, legendTop, width);
  const h = legendTop + key.height + 4;
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${h}" viewBox="0 0 ${width} ${h}" font-family="monospace" font-size="11">`,
    `<title>${esc(title)}</title>`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="10" y="22" font-size="14" font-weight="bold">${esc(title)}</text>`,
  );
  bars.forEach((b, i) => {
    const y = top + i * (barH + gap);
    parts.push(`<text x="10" y="${y + barH / 2 + 4}">${esc(b.label)}</text>`);
    parts.push(
      `<rect x="${left}" y="${y}" width="${(b.layout.userSize * scale).toFixed(1)}" height="${barH}" fill="#f1f3f5" stroke="#ced4da"/>`,
    );
    // Header.
    parts.push(
      `<rect x="${(left + 512 * scale).toFixed(1)}" y="${y}" width="${(64 * scale).toFixed(1)}" height="${barH}" fill="#dee2e6"><title>XSAVE header 512..575 (xstate_bv, xcomp_bv)</title></rect>`,
    );
    parts.push(
      `<rect x="${(left + 464 * scale).toFixed(1)}" y="${y}" width="${(48 * scale).toFixed(1)}" height="${barH}" fill="#ffd166"><title>_fpx_sw_bytes 464..511 (magic1, extended_size, xfeatures, xstate_size)</title></rect>`,
    );
    let labelRow = 0;
    for (const c of b.layout.components) {
      if (!c.enabled || c.size === 0) continue;
      const x = left + c.offset * scale;
      const w = Math.max(1, c.size * scale);
      const fill = COMPONENT_COLORS[c.name] ?? "#999999";
      parts.push(
        `<rect x="${x.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${fill}" fill-opacity="0.85" stroke="#212529" stroke-width="0.5"><title>${esc(`${c.bit} ${c.name}: offset ${c.offset}, size ${c.size}`)}</title></rect>`,
      );
      if (c.bit >= 2) {
        const ly = y + barH + 13 + (labelRow % 2) * 13;
        const label = `${c.name}@${c.offset}`;
        parts.push(
          `<text x="${labelX(x, label, width).toFixed(1)}" y="${ly}" fill="#212529">${esc(label)}</text>`,
        );
        labelRow++;
      }
    }
    const mx = left + b.layout.userSize * scale;
    parts.push(
      `<rect x="${mx.toFixed(1)}" y="${y - 4}" width="${Math.max(2, 4 * scale).toFixed(1)}" height="${barH + 8}" fill="#d00000"><title>magic2 at xstate_size ${b.layout.userSize}</title></rect>`,
    );
    const m2 = `magic2@${b.layout.userSize}`;
    parts.push(`<text x="${labelX(mx + 4, m2, width).toFixed(1)}" y="${y - 6}" fill="#d00000">${m2}</text>`);
    parts.push(...offsetAxis(left, scale, span, y + barH + 36, "byte offset in the XSAVE area (fpstate)"));
  });
  parts.push(...key.svg);
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}
