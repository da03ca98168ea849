/**
 * The ia32 FPU area (32-bit tasks on FXSR CPUs): the 112-byte FSAVE header (struct fregs_state,
 * UAPI _fpstate_32 up to `status`/`magic`) followed by the FXSAVE/XSAVE image at +112, which is
 * the 64-byte aligned buf_fx (arch/x86/kernel/fpu/signal.c fpu__alloc_mathframe(),
 * save_fsave_header()). sw_bytes.extended_size includes the 112 bytes.
 */
import { ByteView, ByteWriter } from "../bytes.ts";
import { InvalidDataError } from "../errors.ts";
import { type ByteRun, Claims, type FieldValues, readTable, writeRuns, writeTable } from "./codec.ts";
import type { FieldDef } from "./fields.ts";
import { type DecodeFpstateOptions, decodeFpstate, encodeFpstate, type Fpstate } from "./fpstate.ts";

export const FSAVE_SIZE = 112;
/** _fpstate_32.magic: X86_FXSR_MAGIC (0x0000) = FXSR data follows; 0xffff = FSAVE only. */
export const X86_FXSR_MAGIC = 0x0000;

const st: FieldDef[] = [];
for (let i = 0; i < 8; i++) st.push([`st${i}`, 28 + 10 * i, 10]);
export const FSAVE_FIELDS = [
  ["cwd", 0, 4],
  ["swd", 4, 4],
  ["twd", 8, 4],
  ["fip", 12, 4],
  ["fcs", 16, 4],
  ["foo", 20, 4],
  ["fos", 24, 4],
  ...st,
  ["status", 108, 2],
  ["magic", 110, 2],
] as const;

export type FsaveHeader = FieldValues<typeof FSAVE_FIELDS>;

export interface Ia32Fpstate {
  size: number;
  fsave: FsaveHeader;
  /** The FXSAVE/XSAVE image at +112; absent for an FSAVE-only area (magic 0xffff, 112 bytes). */
  fx?: Fpstate;
  /** Non-zero bytes of the header area no field covers (none: the header is fully named). */
  extra: ByteRun[];
}

export function decodeIa32Fpstate(bytes: Uint8Array, opts: DecodeFpstateOptions = {}): Ia32Fpstate {
  const path = opts.path ?? "fpstate";
  const v = new ByteView(bytes, opts.base ?? 0);
  const claims = new Claims(Math.min(bytes.length, FSAVE_SIZE));
  const fsave = readTable(v, 0, FSAVE_FIELDS, `${path}/fsave`, claims);
  const out: Ia32Fpstate = { size: bytes.length, fsave, extra: [] };
  if (bytes.length > FSAVE_SIZE || fsave.magic !== 0xffffn) {
    out.fx = decodeFpstate(bytes.subarray(FSAVE_SIZE), {
      ...opts,
      base: (opts.base ?? 0) + FSAVE_SIZE,
      path: `${path}/fxsave`,
    });
  }
  out.extra = claims.extra(bytes.subarray(0, FSAVE_SIZE));
  return out;
}

export function encodeIa32Fpstate(fp: Ia32Fpstate): Uint8Array {
  const need = FSAVE_SIZE + (fp.fx ? fp.fx.size : 0);
  if (fp.size !== need) {
    throw new InvalidDataError(`fpstate: ${fp.size} bytes given, the header and image need ${need}`, {
      path: "fpstate",
    });
  }
  const w = new ByteWriter(fp.size);
  writeTable(w, 0, FSAVE_FIELDS, fp.fsave, "fpstate/fsave");
  writeRuns(w, 0, fp.extra, "fpstate/fsave");
  if (fp.fx) w.set(FSAVE_SIZE, encodeFpstate(fp.fx, "fpstate/fxsave"));
  return w.bytes;
}
