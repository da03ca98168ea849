/**
 * The probe's PKRU cases: frames whose PKRU (XSAVE component 9) locks protection key 0, which a
 * real kernel restores and the task then dies of (SIGSEGV, si_code SEGV_PKUERR: xsave/pkru.ts),
 * and a control that leaves key 0 open. Run where XCR0 has PKRU (a CPU with PKU and OSPKE);
 * skipped with the reason elsewhere. Same frame edits and letters as cases.ts.
 */
import { bit, hex } from "../hex.ts";
import { XFEATURE } from "../xsave/components.ts";
import { componentOf, type XsaveLayout } from "../xsave/layout.ts";
import { PKRU_LINUX_DEFAULT } from "../xsave/pkru.ts";
import { HDR, type ProbeCase, regionWrites, u32, u64 } from "./cases.ts";
import { patterns } from "./patterns.ts";
import { type Isa, standardOffset } from "./regions.ts";

/** The value a frame loaded on an Intel host with PKRU before the task died (issue report). */
const LOCKING_PKRU = 0x1c0011;

const DEFS: readonly { id: string; pkru: number; what: string }[] = [
  { id: "pkru-locks-key0", pkru: LOCKING_PKRU, what: "access-disable for key 0 (bit 0)" },
  {
    id: "pkru-write-disables-key0",
    pkru: (PKRU_LINUX_DEFAULT | 2) >>> 0,
    what: "write-disable for key 0 (bit 1), the other keys as Linux sets them",
  },
  {
    id: "pkru-keeps-key0-open",
    pkru: (PKRU_LINUX_DEFAULT | 0xc) >>> 0,
    what: "key 1 access- and write-disabled, key 0 open (control)",
  },
];

export const PKRU_CASE_IDS: readonly string[] = DEFS.map((d) => d.id);

/** The PKRU cases for a task with this layout. */
export function pkruProbeCases(layout: XsaveLayout, isa: Isa): ProbeCase[] {
  const c = componentOf(layout, XFEATURE.PKRU);
  const skip =
    layout.xsave && c?.enabled
      ? undefined
      : "no PKRU in this task's XSAVE features (the CPU has no PKU, or the kernel does not enable it)";
  return DEFS.map((d) => {
    const pc: ProbeCase = {
      id: d.id,
      description: `PKRU ${hex(d.pkru)} written into the frame: ${d.what}`,
      edit: { place: { kind: "inplace" }, writes: [] },
    };
    if (skip) {
      pc.skip = skip;
      return pc;
    }
    // The vector components pattern F is written to, and PKRU; nothing else (AMX stays as it was).
    const xstateBv = (layout.userFeatures & 0xffn) | bit(XFEATURE.PKRU);
    pc.edit.writes = [
      ...regionWrites(isa, patterns().F, (r) => standardOffset(layout, r)),
      u32(c!.offset, d.pkru),
      u64(HDR.xstateBv, xstateBv),
    ];
    return pc;
  });
}
