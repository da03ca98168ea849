/**
 * Beside a translation: what B would read from the untranslated frame (the misplacement the
 * translation avoids), and what sigreturn on B does with the translated one.
 */
import { hasBit } from "../../hex.ts";
import { predict } from "../../sigreturn/predict.ts";
import type { PredictInput } from "../../sigreturn/types.ts";
import type { XsaveLayout } from "../../xsave/layout.ts";
import { componentSlots, type Fpstate } from "../fpstate.ts";
import type {
  FpstateTranslation,
  PredictTranslationOptions,
  TranslationPrediction,
  UntranslatedRead,
} from "./types.ts";

/**
 * For each component of the source frame holding state that B's task has at a different offset:
 * what B would load from the untranslated bytes (the misplacement translation avoids).
 */
export function untranslatedReads(src: Fpstate, from: XsaveLayout, to: XsaveLayout): UntranslatedRead[] {
  const header = src.header;
  if (!header) return [];
  const slotsA = componentSlots(from, header);
  const out: UntranslatedRead[] = [];
  for (const s of slotsA) {
    if (!hasBit(header.xstateBv, s.bit) || !hasBit(src.sw.xfeatures, s.bit)) continue;
    const cb = to.components.find((c) => c.bit === s.bit && c.enabled);
    if (!cb || cb.offset === s.offset) continue;
    const lo = cb.offset;
    const hi = cb.offset + cb.size;
    const overlaps = slotsA
      .filter((o) => o.offset < hi && o.offset + o.size > lo && hasBit(src.sw.xfeatures, o.bit))
      .map((o) => o.name);
    const m2 = src.sw.xstateSize;
    if (m2 < hi && m2 + 4 > lo) overlaps.push("magic2");
    if (hi > src.size) overlaps.push("past the frame");
    out.push({
      bit: s.bit,
      name: s.name,
      from: { offset: s.offset, size: s.size },
      to: { offset: cb.offset, size: cb.size },
      overlaps,
      pastXstateSize: hi > src.sw.xstateSize,
      pastArea: hi > src.size,
    });
  }
  return out;
}

/** predict() on the translated area under each policy, and whether it restores what was moved. */
export function predictTranslation(
  t: FpstateTranslation,
  opts: PredictTranslationOptions,
): TranslationPrediction[] {
  return opts.policies.map((policy) => {
    const pin: PredictInput = {
      fpstate: t.bytes,
      task: opts.task,
      policy,
      readableBytes: opts.readableBytes ?? Math.max(t.bytes.length, opts.task.userSize + 4),
    };
    if (opts.address !== undefined) pin.address = opts.address;
    if (opts.mxcsrMask !== undefined) pin.mxcsrMask = opts.mxcsrMask;
    if (opts.compactedForm !== undefined) pin.compactedForm = opts.compactedForm;
    const p = predict(pin);
    const missing: string[] = [];
    for (const m of t.components) {
      if (m.action !== "moved" && m.action !== "kept") continue;
      const o = p.components.find((c) => c.bit === m.bit);
      if (o?.result !== "frame" || o.offset !== m.to!.offset) missing.push(m.name);
    }
    if (p.mxcsr !== "frame") missing.push("MXCSR");
    return { prediction: p, restored: p.path === "xrstor" && missing.length === 0, missing };
  });
}
