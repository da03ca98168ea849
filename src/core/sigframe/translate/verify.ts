/**
 * Step 4 of a translation: the written area is read back at B's layout; a register that does not
 * read back as its source value is an error, never a silent output.
 */
import { InvalidDataError } from "../../errors.ts";
import { hasBit, hex } from "../../hex.ts";
import { FP_XSTATE_MAGIC1, FP_XSTATE_MAGIC2 } from "../../xsave/components.ts";
import type { XsaveLayout } from "../../xsave/layout.ts";
import { LEGACY_FIELDS } from "../fields.ts";
import { decodeFpstate, type Fpstate } from "../fpstate.ts";
import type { FpstateTranslation } from "./types.ts";

/**
 * Decodes the result at B's layout and checks that every carried register (legacy region and each
 * moved component) equals its source value and that the sw bytes, header and magic2 are B's.
 * Throws InvalidDataError naming the first register that differs.
 */
export function verifyTranslation(src: Fpstate, t: FpstateTranslation, to: XsaveLayout): void {
  const back = decodeFpstate(t.bytes, { layout: to });
  const fail = (path: string, what: string): never => {
    throw new InvalidDataError(`translation check failed: ${what}; nothing was written`, { path });
  };
  for (const [name] of LEGACY_FIELDS) {
    const want = name === "mxcsr" ? BigInt(t.mxcsr.written) : src.legacy[name as keyof typeof src.legacy];
    const got = back.legacy[name as keyof typeof back.legacy];
    if (got !== want) fail(`fpstate/legacy/${name}`, `${name} reads back ${hex(got)}, not ${hex(want)}`);
  }
  const byBit = new Map(back.components.map((c) => [c.bit, c]));
  const srcBy = new Map(src.components.map((c) => [c.bit, c]));
  for (const m of t.components) {
    if (m.action !== "moved") continue;
    const c = byBit.get(m.bit);
    const s = srcBy.get(m.bit)!;
    if (!c || c.offset !== m.to!.offset)
      fail(`fpstate/${m.name}`, `${m.name} is not at ${to.profile.name}'s offset ${m.to!.offset}`);
    for (const [reg, v] of Object.entries(s.registers)) {
      if (c!.registers[reg] !== v)
        fail(
          `fpstate/${m.name}/${reg}`,
          `${reg} reads back ${hex(c!.registers[reg] ?? 0n)} at ${to.profile.name}'s layout, not ${hex(v)}`,
        );
    }
    if (!hasBit(back.header!.xstateBv, m.bit))
      fail("fpstate/header/xstate_bv", `xstate_bv lacks moved ${m.name}`);
  }
  if (back.sw.magic1 !== FP_XSTATE_MAGIC1) fail("fpstate/sw_bytes/magic1", "magic1 is missing");
  if (back.magic2 !== FP_XSTATE_MAGIC2)
    fail("fpstate/magic2", `magic2 is not at xstate_size ${back.sw.xstateSize}`);
  if (back.sw.extendedSize !== back.sw.xstateSize + 4)
    fail("fpstate/sw_bytes/extended_size", "extended_size ≠ xstate_size + 4");
  if (back.sw.xstateSize > to.userSize)
    fail(
      "fpstate/sw_bytes/xstate_size",
      `xstate_size ${back.sw.xstateSize} exceeds ${to.profile.name}'s user_size ${to.userSize}`,
    );
  if (back.header!.xcompBv !== 0n) fail("fpstate/header/xcomp_bv", "xcomp_bv is not 0");
  if (back.header!.xstateBv & ~to.xcr0)
    fail("fpstate/header/xstate_bv", `xstate_bv sets bits outside ${to.profile.name}'s XCR0`);
}
