/**
 * Step 2 of a translation: what happens to each component and to MXCSR. x87/SSE are kept;
 * each extended component the source carries and B's task has is moved to B's offset; components
 * B's task lacks are dropped (lost when not init); components only B has are left init.
 */
import { TruncatedInputError } from "../../errors.ts";
import { bit, hasBit } from "../../hex.ts";
import { type MxcsrMaskInput, resolveMxcsrMask } from "../../mxcsr.ts";
import { componentInfo, XFEATURE } from "../../xsave/components.ts";
import type { XComponent, XsaveLayout } from "../../xsave/layout.ts";
import { componentSlots, type Fpstate, type XsaveHeader } from "../fpstate.ts";
import type { ComponentMove, MxcsrReport, SourceState } from "./types.ts";

export interface ComponentPlan {
  components: ComponentMove[];
  /** Registers of each moved component, by bit. */
  moved: Map<number, Record<string, bigint>>;
  /** B's components by bit (enabled, extended). */
  bHas: Map<number, XComponent>;
  /** Components the source frame carries (data or init). */
  carried: bigint;
  /** Facts about the source's components a user should know. */
  notes: string[];
}

function allZero(regs: Record<string, bigint>): boolean {
  return Object.values(regs).every((v) => v === 0n);
}

/** User components (bit ≥ 2) CPU A can hold: its XCR0 as Linux sets it. */
function heldBy(layout: XsaveLayout) {
  return layout.components.filter((c) => !c.supervisor && c.bit >= 2 && c.inXcr0 && c.size > 0);
}

/** The fate of every component of A and B. Throws when state xstate_bv promises is not in the input. */
export function planComponents(
  src: Fpstate,
  header: XsaveHeader,
  from: XsaveLayout,
  to: XsaveLayout,
): ComponentPlan {
  const aName = from.profile.name;
  const bName = to.profile.name;
  const notes: string[] = [];
  // Source components: what A's frame carries (sw.xfeatures) and whether it holds state.
  const slotsA = new Map(componentSlots(from, header).map((s) => [s.bit, s]));
  const decodedA = new Map(src.components.map((c) => [c.bit, c]));
  const aHas = heldBy(from);
  const bHas = new Map(
    to.components.filter((c) => c.enabled && c.bit >= 2 && c.size > 0).map((c) => [c.bit, c]),
  );
  const sourceOf = (b: number): SourceState => {
    if (!hasBit(src.sw.xfeatures, b) && !hasBit(header.xstateBv, b)) return "absent";
    return hasBit(src.sw.xfeatures, b) && hasBit(header.xstateBv, b) ? "data" : "init";
  };
  const components: ComponentMove[] = [
    {
      bit: 0,
      name: "x87",
      action: "kept",
      source: "data",
      from: { offset: 0, size: 160 },
      to: { offset: 0, size: 160 },
      lost: false,
    },
    {
      bit: 1,
      name: "SSE",
      action: "kept",
      source: "data",
      from: { offset: 160, size: 256 },
      to: { offset: 160, size: 256 },
      lost: false,
    },
  ];
  const moved = new Map<number, Record<string, bigint>>();
  let carried = 0n;
  const bits = new Set<number>([...aHas.map((c) => c.bit), ...bHas.keys()]);
  for (const b of [...bits].sort((x, y) => x - y)) {
    const name = componentInfo(b).name;
    const inA = aHas.some((c) => c.bit === b);
    const state: SourceState = inA ? sourceOf(b) : "absent";
    const slot = slotsA.get(b);
    const cb = bHas.get(b);
    const m: ComponentMove = { bit: b, name, action: "init", source: state, lost: false };
    if (state !== "absent" && slot) m.from = { offset: slot.offset, size: slot.size };
    if (cb) m.to = { offset: cb.offset, size: cb.size };
    if (state === "absent") {
      if (!cb) continue;
      m.note = inA ? "not in the source frame's xfeatures" : `${aName} has no ${name}`;
      if (b === XFEATURE.PKRU)
        m.note += `; sigreturn on ${bName} sets PKRU to 0 (every key open), not Linux's default 0x55555554`;
      components.push(m);
      continue;
    }
    carried |= bit(b);
    let regs: Record<string, bigint> | undefined;
    if (state === "data") {
      const d = decodedA.get(b);
      if (!d) {
        const end = slot ? slot.offset + slot.size : src.size;
        const hint =
          slot && end > src.sw.xstateSize + 4
            ? ` (past the frame's own xstate_size ${src.sw.xstateSize}: was it written on another CPU? check --from)`
            : "";
        throw new TruncatedInputError(
          `xstate_bv marks ${name} as holding state, but the input ends at ${src.size}, before its bytes ${slot?.offset ?? "?"}..${end - 1}${hint}`,
          { offset: end, path: `fpstate/${name}` },
        );
      }
      regs = d.registers;
      if (slot && slot.offset + slot.size > src.sw.xstateSize)
        notes.push(
          `source: ${name} (${slot.offset}..${slot.offset + slot.size - 1}) lies past xstate_size ${src.sw.xstateSize}; it is carried as XRSTOR on ${aName} would read it`,
        );
    } else if (hasBit(header.xstateBv, b)) {
      m.note = `xstate_bv is set but sw.xfeatures lacks it: sigreturn on ${aName} restores it as init`;
    }
    const nonInit = regs !== undefined && !allZero(regs);
    if (!cb) {
      m.action = "dropped";
      m.lost = nonInit;
      const why =
        b === XFEATURE.XTILEDATA && hasBit(to.xcr0, b)
          ? `${bName}'s task has not enabled AMX tile data (--amx)`
          : `${bName}'s task has no ${name}`;
      m.note = m.note ? `${why}; ${m.note}` : why;
      if (nonInit && b === XFEATURE.PKRU && regs!.pkru === 0x55555554n)
        m.note +=
          " (PKRU holds Linux's default 0x55555554: a task that never used protection keys loses no key it set)";
      components.push(m);
      continue;
    }
    if (state === "data") {
      m.action = "moved";
      moved.set(b, regs!);
    }
    components.push(m);
  }

  return { components, moved, bHas, carried, notes };
}

/** MXCSR against B's MXCSR_MASK; bits outside it are cleared only with `fix`. */
export function planMxcsr(src: Fpstate, mxcsrMask: MxcsrMaskInput | undefined, fix: boolean): MxcsrReport {
  const maskInfo = resolveMxcsrMask(mxcsrMask);
  const mxcsr = Number(src.legacy.mxcsr) >>> 0;
  const unsupported = (mxcsr & ~maskInfo.value) >>> 0;
  const fixed = unsupported !== 0 && fix;
  const written = fixed ? (mxcsr & maskInfo.value) >>> 0 : mxcsr;
  const mx: MxcsrReport = {
    value: mxcsr,
    mask: maskInfo.value,
    estimated: maskInfo.estimated,
    basis: maskInfo.basis,
    unsupported,
    fixed,
    written,
  };

  return mx;
}
