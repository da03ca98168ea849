/**
 * The FPU area of a 64-bit signal frame (what uc_mcontext.fpstate points at): the FXSAVE legacy
 * region, `_fpx_sw_bytes`, the XSAVE header, every extended component at the layout's offsets
 * (standard or compacted form) and magic2. decodeFpstate and encodeFpstate are exact inverses.
 */
import { ByteView, ByteWriter } from "../bytes.ts";
import { InvalidDataError, TruncatedInputError } from "../errors.ts";
import {
  FP_XSTATE_MAGIC1,
  FP_XSTATE_MAGIC2_SIZE,
  FXSAVE_SIZE,
  MIN_XSTATE_SIZE,
  SW_BYTES_OFFSET,
  XFEATURE,
  XSAVE_HDR_OFFSET,
} from "../xsave/components.ts";
import { compactedLayout, type XsaveLayout } from "../xsave/layout.ts";
import { type ByteRun, Claims, type FieldValues, readTable, writeRuns, writeTable } from "./codec.ts";
import { componentFields, HEADER_FIELDS, LEGACY_FIELDS, SW_BYTES_FIELDS } from "./fields.ts";

export type LegacyRegisters = FieldValues<typeof LEGACY_FIELDS>;

export interface SwBytes {
  magic1: number;
  extendedSize: number;
  xfeatures: bigint;
  xstateSize: number;
  /** padding[7], zero as the kernel writes it. */
  padding: number[];
}

export interface XsaveHeader {
  xstateBv: bigint;
  xcompBv: bigint;
  /** reserved[6]: header bytes 16..63. */
  reserved: bigint[];
}

export interface ComponentState {
  bit: number;
  name: string;
  /** Offset in the area where this component's bytes were read (standard or compacted). */
  offset: number;
  size: number;
  /** Register name → value (little-endian, as wide as the register). */
  registers: Record<string, bigint>;
}

export interface Fpstate {
  /** Bytes of the area (the input from the fpstate address on). */
  size: number;
  legacy: LegacyRegisters;
  sw: SwBytes;
  /** Absent when the area is shorter than 576 bytes (an FXSAVE-only image). */
  header?: XsaveHeader;
  /** Extended components decoded, ascending by bit. */
  components: ComponentState[];
  /** The u32 at sw.xstate_size, where it fits (whatever its value). */
  magic2?: number;
  /** Non-zero bytes no field covers. */
  extra: ByteRun[];
}

export interface DecodeFpstateOptions {
  /** The CPU layout whose offsets locate the components; without it only YMM (576) is decoded. */
  layout?: XsaveLayout;
  /**
   * Refuse an area that ends before the size its own self-consistent sw bytes announce
   * (xstate_size + 4); default true. `false`: the input ends where the task's memory ends (a
   * capture cut at an unmapped page): what is there is decoded, an area shorter than the legacy
   * region and header included (the missing bytes read as zero and are not claimed).
   */
  strict?: boolean;
  /** Offset of the area in the whole input, for error messages. */
  base?: number;
  /** Field path prefix; default "fpstate". */
  path?: string;
}

/** Largest xstate_size taken as a real size (AMX frames are 11 KiB; CRIU buffers 16 KiB). */
export const PLAUSIBLE_XSTATE_SIZE = 1 << 20;

/**
 * Where a user component's state sits in a standard-format area on this layout: x87 and SSE in the
 * legacy region, the others at CPUID(0xD,i).EBX. Undefined where the layout has no such component.
 */
export function standardPlacement(
  layout: XsaveLayout,
  bit: number,
): { offset: number; size: number } | undefined {
  if (bit === XFEATURE.FP) return { offset: 0, size: 160 };
  if (bit === XFEATURE.SSE) return { offset: 160, size: 256 };
  const c = layout.components.find((x) => x.bit === bit && !x.supervisor);
  return c && c.size > 0 ? { offset: c.offset, size: c.size } : undefined;
}

/** Where each extended component sits for this header (no layout: only YMM at 576). */
export function componentSlots(
  layout: XsaveLayout | undefined,
  header: XsaveHeader | undefined,
): { bit: number; name: string; offset: number; size: number }[] {
  if (!header) return [];
  const compacted = (header.xcompBv >> 63n) & 1n;
  if (!layout) {
    return compacted ? [] : [{ bit: 2, name: "YMM", offset: 576, size: 256 }];
  }
  const user = layout.components.filter((c) => !c.supervisor && c.bit >= 2 && c.size > 0);
  if (compacted) {
    const format = header.xcompBv & ~(1n << 63n);
    const offs = compactedLayout(layout, format);
    return user
      .filter((c) => ((format >> BigInt(c.bit)) & 1n) === 1n && offs.has(c.bit))
      .map((c) => ({ bit: c.bit, name: c.name, offset: offs.get(c.bit)!, size: c.size }));
  }
  return user
    .filter((c) => c.inXcr0)
    .map((c) => ({ bit: c.bit, name: c.name, offset: c.offset, size: c.size }));
}

export function decodeFpstate(input: Uint8Array, opts: DecodeFpstateOptions = {}): Fpstate {
  const path = opts.path ?? "fpstate";
  // A cut area (strict: false) is read as if zero-filled to the legacy region, never past it.
  const cut = opts.strict === false && input.length < FXSAVE_SIZE;
  const bytes = cut ? padded(input, FXSAVE_SIZE) : input;
  const v = new ByteView(bytes, opts.base ?? 0);
  const claims = new Claims(bytes.length);
  const legacy = readTable(v, 0, LEGACY_FIELDS, `${path}/legacy`, claims);
  const swv = readTable(v, SW_BYTES_OFFSET, SW_BYTES_FIELDS, `${path}/sw_bytes`, claims);
  const sw: SwBytes = {
    magic1: Number(swv.magic1),
    extendedSize: Number(swv.extended_size),
    xfeatures: swv.xfeatures,
    xstateSize: Number(swv.xstate_size),
    padding: [
      swv.padding0,
      swv.padding1,
      swv.padding2,
      swv.padding3,
      swv.padding4,
      swv.padding5,
      swv.padding6,
    ].map(Number),
  };
  const xsaveFrame = sw.magic1 === FP_XSTATE_MAGIC1;
  let header: XsaveHeader | undefined;
  if (
    bytes.length >= MIN_XSTATE_SIZE ||
    (xsaveFrame && sw.xstateSize >= MIN_XSTATE_SIZE && opts.strict !== false)
  ) {
    // An XSAVE frame (magic1 and an XSAVE-sized xstate_size) must carry its header: reading it
    // names the missing field. magic1 with xstate_size 512 is an FXSR-only CPU's frame: the
    // kernel writes the sw bytes there too, and there is no header.
    const h = readTable(v, XSAVE_HDR_OFFSET, HEADER_FIELDS, `${path}/header`, claims);
    header = {
      xstateBv: h.xstate_bv,
      xcompBv: h.xcomp_bv,
      reserved: [h.reserved0, h.reserved1, h.reserved2, h.reserved3, h.reserved4, h.reserved5],
    };
  }
  if (
    opts.strict !== false &&
    xsaveFrame &&
    sw.xstateSize >= MIN_XSTATE_SIZE &&
    sw.xstateSize <= PLAUSIBLE_XSTATE_SIZE &&
    sw.extendedSize >= sw.xstateSize + 4 &&
    sw.extendedSize <= PLAUSIBLE_XSTATE_SIZE + 4 &&
    bytes.length < sw.xstateSize + 4
  ) {
    throw new TruncatedInputError(
      `input ends at ${v.base + bytes.length} bytes; ${path}/magic2 needs 4 bytes at offset ${v.base + sw.xstateSize} (sw_bytes.xstate_size ${sw.xstateSize})`,
      { offset: v.base + sw.xstateSize, path: `${path}/magic2` },
    );
  }
  const components: ComponentState[] = [];
  for (const slot of componentSlots(opts.layout, header)) {
    if (slot.offset + slot.size > bytes.length) continue;
    const table = componentFields(slot.bit, slot.size);
    const regs = readTable(v, slot.offset, table, `${path}/${slot.name}`, claims) as Record<string, bigint>;
    components.push({
      bit: slot.bit,
      name: slot.name,
      offset: slot.offset,
      size: slot.size,
      registers: regs,
    });
  }
  const fp: Fpstate = { size: input.length, legacy, sw, components, extra: [] };
  if (header) fp.header = header;
  if (sw.xstateSize >= 512 && sw.xstateSize + 4 <= input.length) {
    fp.magic2 = v.u32(sw.xstateSize, `${path}/magic2`);
    claims.add(sw.xstateSize, 4);
  }
  fp.extra = claims.extra(bytes).filter((r) => r.offset < input.length);
  return fp;
}

function padded(b: Uint8Array, n: number): Uint8Array {
  const out = new Uint8Array(n);
  out.set(b);
  return out;
}

export function encodeFpstate(fp: Fpstate, path = "fpstate"): Uint8Array {
  if (!Number.isSafeInteger(fp.size) || fp.size < 512) {
    throw new InvalidDataError(`${path}: an FPU area needs at least 512 bytes (got ${fp.size})`, { path });
  }
  const w = new ByteWriter(fp.size);
  writeTable(w, 0, LEGACY_FIELDS, fp.legacy, `${path}/legacy`);
  writeSwBytes(w, fp.sw, `${path}/sw_bytes`);
  if (fp.header) writeXsaveHeader(w, fp.header, `${path}/header`);
  for (const c of fp.components) {
    writeTable(w, c.offset, componentFields(c.bit, c.size), c.registers, `${path}/${c.name}`);
  }
  const sw = fp.sw;
  if (fp.magic2 !== undefined) {
    if (sw.xstateSize + 4 > fp.size) {
      throw new InvalidDataError(
        `${path}/magic2: xstate_size ${sw.xstateSize} leaves no room in ${fp.size} bytes`,
        {
          path: `${path}/magic2`,
        },
      );
    }
    w.u32(sw.xstateSize, fp.magic2);
  }
  writeRuns(w, 0, fp.extra, `${path}/extra`);
  return w.bytes;
}

/** `_fpx_sw_bytes` at fpstate + 464. */
/** The sw bytes of an XSAVE frame as save_sw_bytes() writes them (extended_size = xstate_size + 4). */
export function xsaveSwBytes(xstateSize: number, xfeatures: bigint): SwBytes {
  return {
    magic1: FP_XSTATE_MAGIC1,
    extendedSize: xstateSize + FP_XSTATE_MAGIC2_SIZE,
    xfeatures,
    xstateSize,
    padding: [0, 0, 0, 0, 0, 0, 0],
  };
}

export function writeSwBytes(w: ByteWriter, sw: SwBytes, path = "fpstate/sw_bytes"): void {
  const swv: Record<string, bigint> = {
    magic1: BigInt(sw.magic1 >>> 0),
    extended_size: BigInt(sw.extendedSize >>> 0),
    xfeatures: sw.xfeatures,
    xstate_size: BigInt(sw.xstateSize >>> 0),
  };
  for (let i = 0; i < 7; i++) swv[`padding${i}`] = BigInt((sw.padding[i] ?? 0) >>> 0);
  writeTable(w, SW_BYTES_OFFSET, SW_BYTES_FIELDS, swv, path);
}

/** The XSAVE header at fpstate + 512. */
export function writeXsaveHeader(w: ByteWriter, h: XsaveHeader, path = "fpstate/header"): void {
  const v: Record<string, bigint> = { xstate_bv: h.xstateBv, xcomp_bv: h.xcompBv };
  for (let i = 0; i < 6; i++) v[`reserved${i}`] = h.reserved[i] ?? 0n;
  writeTable(w, XSAVE_HDR_OFFSET, HEADER_FIELDS, v, path);
}

/** A component's registers, all zero (init for every component but x87/SSE). */
export function zeroRegisters(bit: number, size: number): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  for (const [name] of componentFields(bit, size)) out[name] = 0n;
  return out;
}
