/**
 * An SVG picture of a decoded FPU area: the legacy region, the sw bytes, the XSAVE header, every
 * component at the offset it was read from (coloured when XSTATE_BV says it holds state, outlined
 * when it is init), and where magic2 and extended_size put the end. Pure strings.
 */
import { hex } from "../hex.ts";
import { FP_XSTATE_MAGIC1, FP_XSTATE_MAGIC2 } from "../xsave/components.ts";
import { COMPONENT_COLORS, esc, type LegendItem, labelX, legend, offsetAxis } from "../xsave/svg.ts";
import type { Fpstate } from "./fpstate.ts";

const MAX_SPAN = 1 << 16;

/** Splits text into lines of at most `max` characters at spaces. */
function wrap(text: string, max: number): string[] {
  const out: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + 1 + word.length > max) {
      out.push(line);
      line = `  ${word}`;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(line);
  return out;
}

export function fpstateSvg(fp: Fpstate, title: string, findingTexts: readonly string[] = []): string {
  const findings = findingTexts.flatMap((f) => wrap(f, 140));
  const width = 1000;
  const left = 20;
  const top = 56;
  const barH = 40;
  const xsave = fp.sw.magic1 === FP_XSTATE_MAGIC1 && fp.header !== undefined;
  const ends = [576, ...fp.components.map((c) => c.offset + c.size)];
  if (xsave) ends.push(fp.sw.xstateSize + 4, fp.sw.extendedSize);
  const span = Math.min(MAX_SPAN, Math.max(...ends.filter((n) => Number.isFinite(n) && n > 0)));
  const scale = (width - 2 * left) / span;
  const X = (off: number) => left + Math.min(off, span) * scale;
  const W = (size: number) => Math.max(1, Math.min(size, span) * scale);
  const lines = Math.max(1, findings.length);
  const items: LegendItem[] = [
    { label: "0 x87", fill: COMPONENT_COLORS.x87! },
    { label: "1 SSE", fill: COMPONENT_COLORS.SSE! },
    { label: "reserved 416..463", fill: "#e9ecef" },
    { label: "_fpx_sw_bytes 464..511", fill: "#ffd166" },
  ];
  if (fp.header) items.push({ label: "XSAVE header 512..575", fill: "#dee2e6" });
  for (const c of fp.components)
    items.push({ label: `${c.bit} ${c.name}`, fill: COMPONENT_COLORS[c.name] ?? "#999999" });
  if (fp.components.length)
    items.push({ label: "init (XSTATE_BV clear)", fill: "#6c757d", style: "outline" });
  if (xsave) {
    items.push({ label: "magic2 at xstate_size", fill: "#d00000", style: "mark" });
    if (fp.sw.extendedSize <= span && fp.sw.extendedSize !== fp.sw.xstateSize + 4)
      items.push({ label: "extended_size", fill: "#7209b7", style: "line" });
  }
  const factsY = top + barH + 86;
  const legendTop = factsY + 20 + 16 * lines + 14;
  const key = legend(items, left, legendTop, width);
  const h = legendTop + key.height + 4;
  const p: string[] = [];
  p.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${h}" viewBox="0 0 ${width} ${h}" font-family="monospace" font-size="11">`,
    `<title>${esc(title)}</title>`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="${left}" y="22" font-size="14" font-weight="bold">${esc(title)}</text>`,
  );
  const rect = (
    off: number,
    size: number,
    fill: string,
    tip: string,
    stroke = 'stroke="#212529" stroke-width="0.5"',
  ) =>
    p.push(
      `<rect x="${X(off).toFixed(1)}" y="${top}" width="${W(size).toFixed(1)}" height="${barH}" fill="${fill}" ${stroke}><title>${esc(tip)}</title></rect>`,
    );
  rect(0, 160, COMPONENT_COLORS.x87!, "x87: FCW FSW FTW FOP FIP FDP MXCSR MXCSR_MASK ST0-7 (0..159)");
  rect(160, 256, COMPONENT_COLORS.SSE!, "SSE: XMM0-15 (160..415)");
  rect(416, 48, "#e9ecef", "reserved (416..463)");
  rect(
    464,
    48,
    "#ffd166",
    `_fpx_sw_bytes (464..511): magic1 ${hex(fp.sw.magic1)}, extended_size ${fp.sw.extendedSize}, xfeatures ${hex(fp.sw.xfeatures)}, xstate_size ${fp.sw.xstateSize}`,
  );
  if (fp.header) {
    rect(
      512,
      64,
      "#dee2e6",
      `XSAVE header (512..575): xstate_bv ${hex(fp.header.xstateBv)}, xcomp_bv ${hex(fp.header.xcompBv)}`,
    );
  }
  let row = 0;
  for (const c of fp.components) {
    const inUse = fp.header !== undefined && ((fp.header.xstateBv >> BigInt(c.bit)) & 1n) === 1n;
    const fill = COMPONENT_COLORS[c.name] ?? "#999999";
    rect(
      c.offset,
      c.size,
      inUse ? fill : "#ffffff",
      `${c.bit} ${c.name} at ${c.offset}..${c.offset + c.size - 1}: ${inUse ? "holds state (XSTATE_BV set)" : "init (XSTATE_BV clear)"}`,
      inUse
        ? 'fill-opacity="0.85" stroke="#212529" stroke-width="0.5"'
        : `stroke-dasharray="4 2" stroke="${fill}" stroke-width="1.5"`,
    );
    const label = `${c.name}@${c.offset}${inUse ? "" : " (init)"}`;
    p.push(
      `<text x="${labelX(X(c.offset), label, width).toFixed(1)}" y="${top + barH + 14 + (row % 2) * 13}" fill="#212529">${esc(label)}</text>`,
    );
    row++;
  }
  if (xsave) {
    const m2ok = fp.magic2 === FP_XSTATE_MAGIC2;
    const mx = X(fp.sw.xstateSize);
    p.push(
      `<rect x="${mx.toFixed(1)}" y="${top - 6}" width="${Math.max(2, 4 * scale).toFixed(1)}" height="${barH + 12}" fill="${m2ok ? "#d00000" : "#6c757d"}"><title>u32 at xstate_size ${fp.sw.xstateSize}: ${fp.magic2 === undefined ? "past the input" : hex(fp.magic2)}${m2ok ? " (magic2)" : " (not magic2)"}</title></rect>`,
    );
    const m2 = `${m2ok ? "magic2" : "no magic2"}@${fp.sw.xstateSize}`;
    p.push(`<text x="${labelX(mx, m2, width).toFixed(1)}" y="${top - 10}" fill="#d00000">${esc(m2)}</text>`);
    if (fp.sw.extendedSize <= span && fp.sw.extendedSize !== fp.sw.xstateSize + 4) {
      const ex = X(fp.sw.extendedSize);
      p.push(
        `<line x1="${ex.toFixed(1)}" x2="${ex.toFixed(1)}" y1="${top - 4}" y2="${top + barH + 4}" stroke="#7209b7" stroke-width="2" stroke-dasharray="3 2"><title>extended_size ${fp.sw.extendedSize}</title></line>`,
      );
    }
  }
  p.push(...offsetAxis(left, scale, span, top + barH + 36, "byte offset in the FPU area (fpstate)"));
  let y = factsY;
  const facts = xsave
    ? `xstate_size ${fp.sw.xstateSize}   extended_size ${fp.sw.extendedSize}   xfeatures ${hex(fp.sw.xfeatures)}   xstate_bv ${hex(fp.header!.xstateBv)}   xcomp_bv ${hex(fp.header!.xcompBv)}`
    : `magic1 ${hex(fp.sw.magic1)}: a legacy FXSAVE image (x87/SSE only)`;
  p.push(`<text x="${left}" y="${y}">${esc(facts)}</text>`);
  y += 20;
  if (findings.length === 0)
    p.push(`<text x="${left}" y="${y}" fill="#2b9348">no inconsistencies found</text>`);
  for (const f of findings) {
    p.push(`<text x="${left}" y="${y}" fill="#bc4749">${esc(f)}</text>`);
    y += 16;
  }
  p.push(...key.svg);
  p.push("</svg>");
  return `${p.join("\n")}\n`;
}
