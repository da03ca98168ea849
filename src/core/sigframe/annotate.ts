/**
 * Which field every byte of a decoded input belongs to, for annotated hexdumps: one span per
 * field, from the same tables the codec reads with.
 */
import { FP_XSTATE_MAGIC1, SW_BYTES_OFFSET, XSAVE_HDR_OFFSET } from "../xsave/components.ts";
import {
  COMPAT_SIGINFO_FIELDS,
  componentFields,
  HEADER_FIELDS,
  LEGACY_FIELDS,
  RT_SIGFRAME_IA32_HEAD_FIELDS,
  RT_SIGFRAME_IA32_INFO_OFFSET,
  RT_SIGFRAME_IA32_RETCODE_OFFSET,
  RT_SIGFRAME_IA32_UC_OFFSET,
  RT_SIGFRAME_INFO_OFFSET,
  SIGCONTEXT_32_FIELDS,
  SIGCONTEXT_FIELDS,
  SIGFRAME_IA32_EXTRAMASK_OFFSET,
  SIGFRAME_IA32_HEAD_FIELDS,
  SIGFRAME_IA32_RETCODE_OFFSET,
  SIGINFO_FIELDS,
  SW_BYTES_FIELDS,
  UC_IA32_SIGMASK_OFFSET,
  UC_MCONTEXT_OFFSET,
  UC_SIGMASK_OFFSET,
  UCONTEXT_HEAD_FIELDS,
  UCONTEXT_IA32_HEAD_FIELDS,
} from "./fields.ts";
import type { Fpstate } from "./fpstate.ts";
import { type SigframeImage, ucOffset } from "./frame.ts";
import {
  FSAVE_FIELDS,
  FSAVE_SIZE,
  type Ia32Fpstate,
  type Ia32SigframeImage,
  ia32SigcontextOffset,
} from "./ia32.ts";

export interface FieldSpan {
  offset: number;
  size: number;
  /** Field path, e.g. fpstate/sw_bytes/xstate_size. */
  path: string;
}

export function fpstateSpans(fp: Fpstate, base = 0, prefix = "fpstate"): FieldSpan[] {
  const out: FieldSpan[] = [];
  const add = (off: number, size: number, path: string) => out.push({ offset: base + off, size, path });
  for (const [n, o, s] of LEGACY_FIELDS) add(o, s, `${prefix}/legacy/${n}`);
  for (const [n, o, s] of SW_BYTES_FIELDS) add(SW_BYTES_OFFSET + o, s, `${prefix}/sw_bytes/${n}`);
  if (fp.header) for (const [n, o, s] of HEADER_FIELDS) add(XSAVE_HDR_OFFSET + o, s, `${prefix}/header/${n}`);
  for (const c of fp.components) {
    for (const [n, o, s] of componentFields(c.bit, c.size)) add(c.offset + o, s, `${prefix}/${c.name}/${n}`);
  }
  if (fp.magic2 !== undefined && fp.sw.magic1 === FP_XSTATE_MAGIC1)
    add(fp.sw.xstateSize, 4, `${prefix}/magic2`);
  return out.sort((a, b) => a.offset - b.offset || a.size - b.size);
}

export function frameSpans(img: SigframeImage): FieldSpan[] {
  const out: FieldSpan[] = [];
  const f = img.frame;
  const uc = ucOffset(f.start);
  if (f.start === "pretcode") out.push({ offset: 0, size: 8, path: "frame/pretcode" });
  for (const [n, o, s] of UCONTEXT_HEAD_FIELDS) out.push({ offset: uc + o, size: s, path: `frame/uc/${n}` });
  const mc = f.mcontext as Record<string, bigint>;
  for (const [n, o, s] of SIGCONTEXT_FIELDS) {
    if (mc[n] !== undefined)
      out.push({ offset: uc + UC_MCONTEXT_OFFSET + o, size: s, path: `frame/uc/uc_mcontext/${n}` });
  }
  if (f.ucSigmask !== undefined)
    out.push({ offset: uc + UC_SIGMASK_OFFSET, size: 8, path: "frame/uc/uc_sigmask" });
  if (f.info)
    for (const [n, o, s] of SIGINFO_FIELDS)
      out.push({ offset: RT_SIGFRAME_INFO_OFFSET + o, size: s, path: `frame/info/${n}` });
  if (img.fpstate && img.fpstateOffset !== undefined)
    out.push(...fpstateSpans(img.fpstate, img.fpstateOffset));
  return out.sort((a, b) => a.offset - b.offset || a.size - b.size);
}

/** An ia32 FPU area: the FSAVE header's fields, then the image's under fpstate/fxsave. */
export function ia32FpstateSpans(fp: Ia32Fpstate, base = 0): FieldSpan[] {
  const out: FieldSpan[] = FSAVE_FIELDS.map(([n, o, s]) => ({
    offset: base + o,
    size: s,
    path: `fpstate/fsave/${n}`,
  }));
  if (fp.fx) out.push(...fpstateSpans(fp.fx, base + FSAVE_SIZE, "fpstate/fxsave"));
  return out.sort((a, b) => a.offset - b.offset || a.size - b.size);
}

export function ia32FrameSpans(img: Ia32SigframeImage): FieldSpan[] {
  const out: FieldSpan[] = [];
  const f = img.frame;
  const add = (table: readonly (readonly [string, number, number])[], base: number, prefix: string) => {
    for (const [n, o, s] of table) out.push({ offset: base + o, size: s, path: `${prefix}/${n}` });
  };
  const sc = ia32SigcontextOffset(f.kind);
  if (f.kind === "rt") {
    add(RT_SIGFRAME_IA32_HEAD_FIELDS, 0, "frame");
    add(COMPAT_SIGINFO_FIELDS, RT_SIGFRAME_IA32_INFO_OFFSET, "frame/info");
    add(UCONTEXT_IA32_HEAD_FIELDS, RT_SIGFRAME_IA32_UC_OFFSET, "frame/uc");
    add(SIGCONTEXT_32_FIELDS, sc, "frame/uc/uc_mcontext");
    out.push({
      offset: RT_SIGFRAME_IA32_UC_OFFSET + UC_IA32_SIGMASK_OFFSET,
      size: 8,
      path: "frame/uc/uc_sigmask",
    });
    out.push({ offset: RT_SIGFRAME_IA32_RETCODE_OFFSET, size: 8, path: "frame/retcode" });
  } else {
    add(SIGFRAME_IA32_HEAD_FIELDS, 0, "frame");
    add(SIGCONTEXT_32_FIELDS, sc, "frame/sc");
    out.push({ offset: SIGFRAME_IA32_EXTRAMASK_OFFSET, size: 4, path: "frame/extramask" });
    out.push({ offset: SIGFRAME_IA32_RETCODE_OFFSET, size: 8, path: "frame/retcode" });
  }
  if (img.fpstate && img.fpstateOffset !== undefined)
    out.push(...ia32FpstateSpans(img.fpstate, img.fpstateOffset));
  return out.sort((a, b) => a.offset - b.offset || a.size - b.size);
}
