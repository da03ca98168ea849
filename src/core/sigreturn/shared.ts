/**
 * What the 64-bit and the ia32 restore paths share: the fpstate as mapped user memory, the
 * software-bytes check of each policy (check_xstate_in_sigframe() / check_for_xstate(), which
 * both paths run on buf_fx), and the shape of a prediction.
 */
import { hasBit, hex } from "../hex.ts";
import { FP_XSTATE_MAGIC1, FP_XSTATE_MAGIC2, MIN_XSTATE_SIZE, SW_BYTES_OFFSET } from "../xsave/components.ts";
import { enabledComponents, type XComponent, type XsaveLayout } from "../xsave/layout.ts";
import { POLICY_CHECK_SOURCE, REASONS, type ReasonCode } from "./reasons.ts";
import type { ComponentOutcome, Policy, Prediction, RestorePath } from "./types.ts";

/** Reasons decided by check_xstate_in_sigframe()/check_for_xstate(): cited per policy. */
export const CHECK_REASONS = new Set<ReasonCode>([
  "sw-bytes-unreadable",
  "magic1-mismatch",
  "xstate-size-below-minimum",
  "xstate-size-above-user-size",
  "xstate-size-above-extended-size",
  "magic2-unreadable",
  "magic2-mismatch",
]);

/** si_code of force_sig(SIGSEGV), which signal_fault() sends (include/uapi/asm-generic/siginfo.h). */
export const SI_KERNEL = 0x80;

/** The fpstate as the kernel sees it: a prefix of `readable` mapped bytes. */
export class UserMemory {
  readonly bytes: Uint8Array;
  readonly readable: number;
  constructor(bytes: Uint8Array, readable: number) {
    this.bytes = bytes;
    this.readable = Math.max(0, Math.floor(readable));
  }
  canRead(off: number, len: number): boolean {
    return off >= 0 && len >= 0 && off + len <= this.readable;
  }
  private byte(i: number): number {
    return i < this.bytes.length ? this.bytes[i]! : 0;
  }
  u32(off: number): number {
    return (
      (this.byte(off) |
        (this.byte(off + 1) << 8) |
        (this.byte(off + 2) << 16) |
        (this.byte(off + 3) << 24)) >>>
      0
    );
  }
  u64(off: number): bigint {
    return BigInt(this.u32(off)) | (BigInt(this.u32(off + 4)) << 32n);
  }
}

export interface SwBytesSeen {
  magic1: number;
  extendedSize: number;
  xfeatures: bigint;
  xstateSize: number;
}

export type CheckResult =
  | { kind: "xsave"; sw: SwBytesSeen }
  | { kind: "fx-only"; reason: ReasonCode; detail: string }
  | { kind: "fatal"; reason: ReasonCode; detail: string };

export function names(task: XsaveLayout, mask: bigint): string {
  const n = enabledComponents(task)
    .filter((c) => hasBit(mask, c.bit))
    .map((c) => c.name);
  return n.length ? n.join(", ") : "nothing";
}

export function readSw(mem: UserMemory): SwBytesSeen {
  return {
    magic1: mem.u32(SW_BYTES_OFFSET),
    extendedSize: mem.u32(SW_BYTES_OFFSET + 4),
    xfeatures: mem.u64(SW_BYTES_OFFSET + 8),
    xstateSize: mem.u32(SW_BYTES_OFFSET + 16),
  };
}

/** check_xstate_in_sigframe() (v5.14+, both variants) and check_for_xstate() (before v5.14). */
export function checkXstate(policy: Policy, mem: UserMemory, task: XsaveLayout): CheckResult {
  const legacy = policy === "legacy";
  const fail = (reason: ReasonCode, detail: string): CheckResult =>
    legacy || (reason !== "sw-bytes-unreadable" && reason !== "magic2-unreadable")
      ? { kind: "fx-only", reason, detail }
      : { kind: "fatal", reason, detail };
  const U = task.userSize;
  if (!mem.canRead(SW_BYTES_OFFSET, 48)) {
    return fail(
      "sw-bytes-unreadable",
      `only ${mem.readable} bytes are mapped, so copying the 48 software bytes at fpstate+464 faults` +
        (legacy ? "; check_for_xstate() treats the fault as a legacy frame" : ""),
    );
  }
  const sw = readSw(mem);
  if (sw.magic1 !== FP_XSTATE_MAGIC1) {
    return fail(
      "magic1-mismatch",
      `sw_bytes.magic1 is ${hex(sw.magic1)}, not FP_XSTATE_MAGIC1 ${hex(FP_XSTATE_MAGIC1)}, so the frame is taken as a legacy FXSAVE image`,
    );
  }
  if (policy === "refined") {
    // dc8aa31a7ac2: the frame's sizes are ignored; magic2 must sit at the receiving task's user_size.
    if (!mem.canRead(U, 4)) {
      return fail(
        "magic2-unreadable",
        `dc8aa31a7ac2 reads magic2 at fpstate + user_size (${U}) instead of fpstate + xstate_size (${sw.xstateSize}), and only ${mem.readable} bytes are mapped there`,
      );
    }
    const m2 = mem.u32(U);
    if (m2 !== FP_XSTATE_MAGIC2) {
      return fail(
        "magic2-mismatch",
        `dc8aa31a7ac2 looks for magic2 at fpstate + user_size (${U}) instead of fpstate + xstate_size (${sw.xstateSize}) and finds ${hex(m2)} there`,
      );
    }
    return { kind: "xsave", sw };
  }
  if (sw.xstateSize < MIN_XSTATE_SIZE) {
    return fail(
      "xstate-size-below-minimum",
      `sw_bytes.xstate_size ${sw.xstateSize} is below the minimum ${MIN_XSTATE_SIZE} (legacy region + XSAVE header)`,
    );
  }
  if (sw.xstateSize > U) {
    return fail(
      "xstate-size-above-user-size",
      `sw_bytes.xstate_size ${sw.xstateSize} exceeds the receiving task's user_size ${U}`,
    );
  }
  if (sw.xstateSize > sw.extendedSize) {
    return fail(
      "xstate-size-above-extended-size",
      `sw_bytes.xstate_size ${sw.xstateSize} exceeds sw_bytes.extended_size ${sw.extendedSize}`,
    );
  }
  if (!mem.canRead(sw.xstateSize, 4)) {
    return fail(
      "magic2-unreadable",
      `magic2 at fpstate + xstate_size (${sw.xstateSize}) lies beyond the ${mem.readable} mapped bytes` +
        (legacy ? "; check_for_xstate() treats the fault as a legacy frame" : ""),
    );
  }
  const m2 = mem.u32(sw.xstateSize);
  if (m2 !== FP_XSTATE_MAGIC2) {
    return fail(
      "magic2-mismatch",
      `the u32 at fpstate + xstate_size (${sw.xstateSize}) is ${hex(m2)}, not FP_XSTATE_MAGIC2 ${hex(FP_XSTATE_MAGIC2)}`,
    );
  }
  return { kind: "xsave", sw };
}

export function allInit(comps: XComponent[]): ComponentOutcome[] {
  return comps.map((c) => ({ bit: c.bit, name: c.name, result: "init" }));
}

export function make(
  policy: Policy,
  path: RestorePath,
  reason: ReasonCode,
  detail: string,
  components: ComponentOutcome[],
  mxcsr: "frame" | "init",
  notes: string[],
): Prediction {
  return {
    policy,
    path,
    signal: path === "fault" ? "SIGSEGV" : null,
    ...(path === "fault" ? { siCode: SI_KERNEL } : {}),
    reason,
    detail,
    source: CHECK_REASONS.has(reason) ? `${POLICY_CHECK_SOURCE[policy]}` : REASONS[reason].source,
    components,
    mxcsr,
    lost: [],
    notes,
  };
}

export function sentence(s: string): string {
  return s.endsWith(".") ? s : `${s}.`;
}
