/** The JSON form of a prediction (`predict --json`, `translate --json`, the web explorer). */
import type { ComponentOutcome, Prediction } from "./types.ts";

/** A prediction as JSON: every field of `Prediction` in a fixed order, PKRU as `"0x…"`. */
export type PredictionJson = Omit<Prediction, "pkru"> & { pkru?: string };

export function predictionToJson(p: Prediction): PredictionJson {
  const out: PredictionJson = {
    policy: p.policy,
    path: p.path,
    signal: p.signal,
    ...(p.siCode !== undefined ? { siCode: p.siCode } : {}),
    ...(p.pkru !== undefined ? { pkru: `0x${p.pkru.toString(16)}` } : {}),
    reason: p.reason,
    detail: p.detail,
    source: p.source,
    components: p.components.map((c) => {
      const o: ComponentOutcome = { bit: c.bit, name: c.name, result: c.result };
      if (c.offset !== undefined) o.offset = c.offset;
      return o;
    }),
    mxcsr: p.mxcsr,
    lost: p.lost,
    notes: p.notes,
  };
  if (p.frame) out.frame = p.frame;
  return out;
}
