/**
 * A thread's saved FPU state from a standard-format XSAVE area (an NT_X86_XSTATE note, a CRIU
 * xsave, a frame's fpstate) decoded into registers, each a bigint of its full width with byte 0
 * as the least significant (memory order = little-endian):
 * `st0`…`st7` (80-bit), `xmm0`…`xmm15`, `ymm0`…`ymm15` (256-bit, when YMM is in the layout),
 * `zmm0`…`zmm31` (512-bit, when the AVX-512 components are), `k0`…`k7`, `pkru`, plus the control
 * words `fcw`, `fsw`, `ftw` (abridged), `fop`, `mxcsr`, `mxcsr_mask`.
 *
 * A component whose XSTATE_BV bit is clear is in its init state: its registers read as zero (x87:
 * FCW 0x37f) whatever the bytes hold, as XRSTOR would load them. Pass `{ raw: true }` to read the
 * bytes as they are.
 */
import { TruncatedInputError } from "../errors.ts";
import { hasBit, leToBigint } from "../hex.ts";
import { XFEATURE } from "../xsave/components.ts";
import type { XsaveLayout } from "../xsave/layout.ts";

export interface FpuState {
  /** XSTATE_BV from the header at 512 (FP|SSE for a 512-byte FXSAVE image). */
  xstateBv: bigint;
  xcompBv: bigint;
  /** Bytes 464..471: XCR0 in ptrace/core notes (sw_bytes in signal frames). */
  sw464: bigint;
  /** Components decoded (bits). */
  components: number[];
  regs: Record<string, bigint>;
}

export interface DecodeOptions {
  /** Read every component's bytes even where XSTATE_BV says init. */
  raw?: boolean;
}

function le(b: Uint8Array, off: number, len: number): bigint {
  return leToBigint(b.subarray(off, off + len));
}

function need(b: Uint8Array, off: number, len: number, path: string): void {
  if (off + len > b.length)
    throw new TruncatedInputError(
      `the XSAVE area is ${b.length} bytes; ${path} needs ${len} bytes at offset ${off}`,
      {
        offset: off,
        path,
      },
    );
}

/** The 512-byte legacy (FXSAVE) region: x87, MXCSR, xmm0-15. */
export function decodeFxsave(b: Uint8Array, opts: DecodeOptions = {}, xstateBv = 0x3n): FpuState {
  need(b, 0, 512, "xstate/legacy");
  const regs: Record<string, bigint> = {};
  const x87 = opts.raw || hasBit(xstateBv, XFEATURE.FP);
  const sse = opts.raw || hasBit(xstateBv, XFEATURE.SSE);
  regs.fcw = x87 ? le(b, 0, 2) : 0x37fn;
  regs.fsw = x87 ? le(b, 2, 2) : 0n;
  regs.ftw = x87 ? le(b, 4, 1) : 0n;
  regs.fop = x87 ? le(b, 6, 2) : 0n;
  regs.fip = x87 ? le(b, 8, 8) : 0n;
  regs.fdp = x87 ? le(b, 16, 8) : 0n;
  regs.mxcsr = le(b, 24, 4);
  regs.mxcsr_mask = le(b, 28, 4);
  for (let i = 0; i < 8; i++) regs[`st${i}`] = x87 ? le(b, 32 + 16 * i, 10) : 0n;
  for (let i = 0; i < 16; i++) regs[`xmm${i}`] = sse ? le(b, 160 + 16 * i, 16) : 0n;
  return {
    xstateBv,
    xcompBv: 0n,
    sw464: le(b, 464, 8),
    components: [XFEATURE.FP, XFEATURE.SSE],
    regs,
  };
}

/** Decodes a standard-format XSAVE area laid out as `layout` (see the module comment). */
export function decodeXstate(b: Uint8Array, layout: XsaveLayout, opts: DecodeOptions = {}): FpuState {
  need(b, 0, 576, "xstate/header");
  const xstateBv = le(b, 512, 8);
  const s = decodeFxsave(b, opts, xstateBv);
  s.xcompBv = le(b, 520, 8);
  const regs = s.regs;
  const comp = (bitNo: number) =>
    layout.components.find((c) => c.bit === bitNo && c.inXcr0 && !c.supervisor && c.size > 0);
  const live = (bitNo: number) => opts.raw || hasBit(xstateBv, bitNo);
  const area = (bitNo: number, name: string) => {
    const c = comp(bitNo);
    if (c) need(b, c.offset, c.size, `xstate/${name}`);
    return c;
  };
  const ymm = area(XFEATURE.YMM, "YMM");
  const opmask = area(XFEATURE.OPMASK, "OPMASK");
  const zhi = area(XFEATURE.ZMM_Hi256, "ZMM_Hi256");
  const hi16 = area(XFEATURE.Hi16_ZMM, "Hi16_ZMM");
  const pkru = area(XFEATURE.PKRU, "PKRU");
  const upper128: bigint[] = [];
  for (let i = 0; i < 16; i++) upper128.push(ymm && live(XFEATURE.YMM) ? le(b, ymm.offset + 16 * i, 16) : 0n);
  if (ymm) {
    s.components.push(XFEATURE.YMM);
    for (let i = 0; i < 16; i++) regs[`ymm${i}`] = regs[`xmm${i}`]! | (upper128[i]! << 128n);
  }
  if (zhi || hi16) {
    for (let i = 0; i < 16; i++) {
      const hi = zhi && live(XFEATURE.ZMM_Hi256) ? le(b, zhi.offset + 32 * i, 32) : 0n;
      regs[`zmm${i}`] = regs[`xmm${i}`]! | (upper128[i]! << 128n) | (hi << 256n);
    }
    for (let i = 0; i < 16; i++)
      regs[`zmm${16 + i}`] = hi16 && live(XFEATURE.Hi16_ZMM) ? le(b, hi16.offset + 64 * i, 64) : 0n;
    if (zhi) s.components.push(XFEATURE.ZMM_Hi256);
    if (hi16) s.components.push(XFEATURE.Hi16_ZMM);
  }
  if (opmask) {
    s.components.push(XFEATURE.OPMASK);
    for (let i = 0; i < 8; i++) regs[`k${i}`] = live(XFEATURE.OPMASK) ? le(b, opmask.offset + 8 * i, 8) : 0n;
  }
  if (pkru) {
    s.components.push(XFEATURE.PKRU);
    regs.pkru = live(XFEATURE.PKRU) ? le(b, pkru.offset, 4) : 0n;
  }
  s.components.sort((a, c) => a - c);
  return s;
}
