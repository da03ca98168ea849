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

interface Bar {
  label: string;
  layout: XsaveLayout;
}

/** Renders one or more layouts on a common byte scale. */
export function layoutSvg(bars: Bar[], title: string): string {
  const width = 1000;
  const left = 170;
  const barH = 34;
  const gap = 56;
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
  const h = top + bars.length * (barH + gap) + 20;
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
  });
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}
