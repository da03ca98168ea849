/** Annotated hexdump: 16 bytes a line, with the fields that start on that line; repeated zero lines folded. */
import type { FieldSpan } from "../../core/sigframe/annotate.ts";

function hexByte(b: number): string {
  return (b < 16 ? "0" : "") + b.toString(16);
}

export function annotatedHexdump(bytes: Uint8Array, spans: FieldSpan[], base = 0n): string {
  const lines: string[] = [];
  const starts = new Map<number, string[]>();
  for (const s of spans) {
    const row = s.offset - (s.offset % 16);
    const name = s.path
      .replace(/^(fpstate|frame)\//, "")
      .replace(/^uc\/uc_mcontext\//, "")
      .replace(/^uc\//, "");
    const list = starts.get(row) ?? [];
    list.push(`${name}@${s.offset % 16}`);
    starts.set(row, list);
  }
  let folded = false;
  for (let off = 0; off < bytes.length; off += 16) {
    const row = bytes.subarray(off, off + 16);
    const label = starts.get(off);
    const zero = row.every((b) => b === 0);
    if (zero && !label && off > 0 && off + 16 < bytes.length) {
      if (!folded) lines.push("*");
      folded = true;
      continue;
    }
    folded = false;
    const addr = (base + BigInt(off)).toString(16).padStart(base ? 12 : 6, "0");
    const hx = [...row].map(hexByte).join(" ").padEnd(47);
    lines.push(`${addr}  ${hx}${label ? `  ${label.join(" ")}` : ""}`);
  }
  return lines.join("\n");
}
