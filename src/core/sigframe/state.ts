/**
 * Register state by name, as STATE.json gives it: `"rip": "0x401000"`, `"ymm3": "0x…"`,
 * `"k1": "0xff"`, `"zmm17": "0x…"`, `"mxcsr": "0x1f80"`, `"st0": "0x…"`, `"pkru": "0x55555554"`.
 * Wide registers are split over the structures that hold them: ymmN = xmmN (legacy region) +
 * ymmhN (YMM component); zmmN (N < 16) adds zmmhN (ZMM_Hi256); zmm16–31 live in Hi16_ZMM.
 * What the state omits is init. Reading STATE.json (validated) is state-json.ts.
 */
import { InvalidDataError } from "../errors.ts";
import { parseU64 } from "../hex.ts";
import {
  COMPONENT_FIELDS,
  LEGACY_FIELDS,
  SIGCONTEXT_32_FIELDS,
  SIGCONTEXT_FIELDS,
  SIGINFO_FIELDS,
  UCONTEXT_HEAD_FIELDS,
} from "./fields.ts";

/** A register write: bits [shift, shift+width) of field `field` in `where`. */
export interface RegisterSlot {
  where: "frame" | "legacy" | number;
  field: string;
  shift: number;
  width: number;
}

/** Values by field: frame fields (sigcontext, ucontext, siginfo), legacy region, per component. */
export interface RegisterState {
  frame: Record<string, bigint>;
  legacy: Record<string, bigint>;
  components: Map<number, Record<string, bigint>>;
  /** Names as given, for messages. */
  given: string[];
}

export function emptyState(): RegisterState {
  return { frame: {}, legacy: {}, components: new Map(), given: [] };
}

const FRAME_NAMES = new Map<string, number>([
  // ia32 frames (build --ia32): the 32-bit sigcontext's own names; names both frames share
  // (cs, eflags, fpstate, …) take the 64-bit width below, the ia32 encoder checks the 32-bit one.
  ...SIGCONTEXT_32_FIELDS.filter(([n]) => !n.startsWith("__")).map(
    ([n, , s]) => [n, s * 8] as [string, number],
  ),
  ["sig", 32],
  ["pinfo", 32],
  ["puc", 32],
  ["extramask", 32],
  ...SIGCONTEXT_FIELDS.map(([n, , s]) => [n, s * 8] as [string, number]),
  ...UCONTEXT_HEAD_FIELDS.map(([n, , s]) => [n, s * 8] as [string, number]),
  ...SIGINFO_FIELDS.map(([n, , s]) => [n, s * 8] as [string, number]),
  ["uc_sigmask", 64],
  ["pretcode", 64],
]);
const ALIASES: Record<string, string> = {
  sigmask: "uc_sigmask",
  rflags: "eflags",
  "&uc": "uc_link",
  "&fpstate": "fpstate",
};
const LEGACY_WIDTH = new Map<string, number>(LEGACY_FIELDS.map(([n, , s]) => [n, s * 8]));
const COMPONENT_OF = new Map<string, { bit: number; width: number }>();
for (const [bit, table] of Object.entries(COMPONENT_FIELDS)) {
  for (const [n, , s] of table) COMPONENT_OF.set(n, { bit: Number(bit), width: s * 8 });
}

/** Where a named register lives; undefined for an unknown name. */
export function registerSlots(rawName: string): RegisterSlot[] | undefined {
  const name = ALIASES[rawName.toLowerCase()] ?? rawName.toLowerCase();
  if (name === "csgsfs") {
    // pwntools' 64-bit view of cs, gs, fs, ss.
    return ["cs", "gs", "fs", "ss"].map((f) => ({ where: "frame", field: f, shift: 0, width: 16 }));
  }
  const m = /^(xmm|ymm|zmm|mm)(\d+)$/.exec(name);
  if (m) {
    const kind = m[1]!;
    const n = Number(m[2]);
    if (kind === "mm") return n < 8 ? [{ where: "legacy", field: `st${n}`, shift: 0, width: 64 }] : undefined;
    const bits = kind === "xmm" ? 128 : kind === "ymm" ? 256 : 512;
    if (n < 16) {
      const out: RegisterSlot[] = [{ where: "legacy", field: `xmm${n}`, shift: 0, width: 128 }];
      if (bits >= 256) out.push({ where: 2, field: `ymmh${n}`, shift: 0, width: 128 });
      if (bits >= 512) out.push({ where: 6, field: `zmmh${n}`, shift: 0, width: 256 });
      return out;
    }
    if (n < 32) return [{ where: 7, field: `zmm${n}`, shift: 0, width: bits }];
    return undefined;
  }
  if (FRAME_NAMES.has(name))
    return [{ where: "frame", field: name, shift: 0, width: FRAME_NAMES.get(name)! }];
  if (LEGACY_WIDTH.has(name))
    return [{ where: "legacy", field: name, shift: 0, width: LEGACY_WIDTH.get(name)! }];
  const c = COMPONENT_OF.get(name);
  if (c) return [{ where: c.bit, field: name, shift: 0, width: c.width }];
  return undefined;
}

/** Total width in bits of a named register (what its value may use). */
export function registerWidth(name: string): number | undefined {
  const slots = registerSlots(name);
  if (!slots) return undefined;
  return slots.reduce((a, s) => a + s.width, 0);
}

function setBits(rec: Record<string, bigint>, field: string, shift: number, width: number, v: bigint): void {
  const mask = ((1n << BigInt(width)) - 1n) << BigInt(shift);
  rec[field] = ((rec[field] ?? 0n) & ~mask) | ((v << BigInt(shift)) & mask);
}

/** Sets a named register; throws InvalidDataError (path = the name) for unknown names or wide values. */
export function setRegister(state: RegisterState, name: string, value: bigint): void {
  const width = registerWidth(name);
  const slots = registerSlots(name);
  if (!slots || width === undefined) {
    throw new InvalidDataError(`unknown register ${JSON.stringify(name)}`, { path: name });
  }
  if (value < 0n || value >> BigInt(width) !== 0n) {
    throw new InvalidDataError(`${name}: value is wider than ${width} bits`, { path: name });
  }
  let v = value;
  for (const s of slots) {
    const part = v & ((1n << BigInt(s.width)) - 1n);
    v >>= BigInt(s.width);
    if (s.where === "frame") setBits(state.frame, s.field, s.shift, s.width, part);
    else if (s.where === "legacy") {
      setBits(state.legacy, s.field, s.shift, s.width, part);
      // An MMX write sets the x87 exponent/sign bits to all ones.
      if (/^mm\d$/.test(name.toLowerCase())) setBits(state.legacy, s.field, 64, 16, 0xffffn);
    } else {
      let rec = state.components.get(s.where);
      if (!rec) {
        rec = {};
        state.components.set(s.where, rec);
      }
      setBits(rec, s.field, s.shift, s.width, part);
    }
  }
  state.given.push(name);
}

/**
 * Largest STATE.json read: every register a frame holds, AMX tile data (8 KiB, 16 KiB of hex)
 * included, is a few tens of KiB of JSON.
 */
export const MAX_STATE_BYTES = 1024 * 1024;

/** Like parseU64 but for registers up to 8192 bits (hex only above 64 bits). */
export function parseWide(text: string, name: string): bigint {
  const s = text.trim().toLowerCase().replace(/_/g, "");
  if (/^0x[0-9a-f]+$/.test(s) && s.length > 18) return BigInt(s);
  return parseU64(text, name);
}
