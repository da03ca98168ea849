/** Aligned text tables for human output (plain ASCII; colour is applied by callers per cell). */

interface Column {
  header: string;
  align?: "left" | "right";
}

/** Visible length (ANSI colour codes do not take space). */
function visible(s: string): number {
  return s.replace(/\x1b\[[0-9;]*m/g, "").length;
}

export function renderTable(columns: Column[], rows: string[][], indent = ""): string {
  const widths = columns.map((c, i) => Math.max(visible(c.header), ...rows.map((r) => visible(r[i] ?? ""))));
  const fmt = (cells: string[]) =>
    indent +
    cells
      .map((cell, i) => {
        const pad = " ".repeat(Math.max(0, widths[i]! - visible(cell)));
        return columns[i]?.align === "right" ? pad + cell : i === cells.length - 1 ? cell : cell + pad;
      })
      .join("  ")
      .trimEnd();
  return [fmt(columns.map((c) => c.header)), ...rows.map(fmt)].join("\n");
}

/** `key  value` lines with aligned keys. */
export function renderPairs(pairs: [string, string][], indent = ""): string {
  const w = Math.max(0, ...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${indent}${k.padEnd(w)}  ${v}`).join("\n");
}
