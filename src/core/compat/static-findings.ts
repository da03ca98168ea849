/**
 * Findings that follow from the two layouts alone, whatever the frame and the kernel policy:
 * components the process does not use, AMX permission and availability, PKRU, glibc's cached
 * XSAVE size and an MXCSR_MASK that is estimated rather than measured.
 */
import { bitsOf, hasBit, hex } from "../hex.ts";
import type { MxcsrMask } from "../mxcsr.ts";
import { componentInfo, XFEATURE } from "../xsave/components.ts";
import type { XsaveLayout } from "../xsave/layout.ts";
import { type Finding, finding, hostSide } from "./findings.ts";
import { type GlibcSaveArea, type GlibcTrampoline, glibcSaveAreas } from "./glibc.ts";

const TRAMPOLINE_WORDS: Record<GlibcTrampoline, string> = {
  xsavec: "with XSAVEC",
  xsave: "with XSAVE",
};

/**
 * glibc_xsave_size: a trampoline whose area, sized on A, is smaller than what the same XSAVE(C)
 * writes on B (compat/glibc.ts), or that B cannot execute.
 */
function glibcFinding(
  from: XsaveLayout,
  to: XsaveLayout,
  names: { from: string; to: string },
): Finding | undefined {
  const areas = glibcSaveAreas(from, to);
  const bad = areas.filter((a) => a.written > a.reserved || a.undefinedOnB);
  if (bad.length === 0) return undefined;
  const A = names.from;
  const B = names.to;
  const cond = (a: GlibcSaveArea) =>
    a.trampoline === "xsavec"
      ? `${TRAMPOLINE_WORDS.xsavec}${a.isDefault ? ` (${A}'s default)` : ""}`
      : `${TRAMPOLINE_WORDS.xsave}${a.isDefault ? ` (${A}'s default: no XSAVEC)` : " (no XSAVEC, or GLIBC_TUNABLES=glibc.cpu.hwcaps=-XSAVEC)"}`;
  const sizes = areas
    .map(
      (a) =>
        `${cond(a)} ${a.reserved} bytes, ${B} ${a.undefinedOnB ? "has no XSAVEC (#UD, SIGILL)" : `writes ${a.written}${a.written > a.reserved ? `: ${a.written - a.reserved} past its end` : ""}`}`,
    )
    .join("; ");
  const worst = bad.reduce((w, a) => (a.written - a.reserved > w.written - w.reserved ? a : w));
  return finding("glibc_xsave_size", {
    message: `glibc sized the save area of its lazy-binding trampoline (_dl_runtime_resolve) from CPUID when the process started on ${A}: ${sizes}. The first lazily bound call after the restore overruns the registers saved beside the area and crashes the process (not with LD_BIND_NOW=1 or -z now; glibc 2.40+'s TLS descriptors size theirs the same way)`,
    from: { size: worst.reserved },
    to: { size: worst.written },
  });
}

/** Layout-only findings: they do not depend on a frame or a kernel policy. */
export function staticFindings(
  from: XsaveLayout,
  to: XsaveLayout,
  uses: bigint,
  names: { from: string; to: string },
  mx: { from: MxcsrMask; to: MxcsrMask },
): Finding[] {
  const out: Finding[] = [];
  const A = names.from;
  const B = names.to;
  for (const b of bitsOf(from.userFeatures & ~uses)) {
    if (b < 2 || b === XFEATURE.XTILECFG || b === XFEATURE.XTILEDATA) continue;
    if (hasBit(to.userFeatures, b)) continue;
    const name = componentInfo(b).name;
    out.push(
      finding("component_unused_missing", {
        message: `${A} enables ${name} but ${B} does not have it; processes are taken not to use it${b === XFEATURE.BNDREGS || b === XFEATURE.BNDCSR ? " (Linux has no MPX user ABI since v5.6)" : ""}`,
        component: name,
        bit: b,
        from: hostSide(from, b),
        to: hostSide(to, b),
      }),
    );
  }
  if (hasBit(from.xcr0, XFEATURE.XTILEDATA)) {
    if (!hasBit(to.xcr0, XFEATURE.XTILEDATA)) {
      if (!hasBit(uses, XFEATURE.XTILEDATA))
        out.push(
          finding("amx_unavailable", {
            message: `${A} offers AMX (XTILEDATA) but ${B} does not: a process that used AMX loses its tile state`,
            component: "XTILEDATA",
            bit: XFEATURE.XTILEDATA,
            from: hostSide(from, XFEATURE.XTILEDATA),
            to: hostSide(to, XFEATURE.XTILEDATA),
          }),
        );
    } else {
      out.push(
        finding("amx_permission", {
          message: hasBit(to.userFeatures, XFEATURE.XTILEDATA)
            ? `AMX permission (ARCH_REQ_XCOMP_PERM) is per process: the restorer is taken to request it again on ${B} (--amx), so its tasks have tile data and user_size ${to.userSize}`
            : `AMX permission (ARCH_REQ_XCOMP_PERM) is per process and not carried to ${B}: a task there has user_size ${to.userSize}, while one that used AMX on ${A} had ${from.maxUserSize} (--amx: the restorer requests it again)`,
          component: "XTILEDATA",
          bit: XFEATURE.XTILEDATA,
        }),
      );
    }
  }
  if (!hasBit(from.userFeatures, XFEATURE.PKRU) && hasBit(to.userFeatures, XFEATURE.PKRU)) {
    out.push(
      finding("pkru_init", {
        message: `${A} has no PKRU; on ${B} it is loaded as 0 (all protection keys open) rather than Linux's default 0x55555554`,
        component: "PKRU",
        bit: XFEATURE.PKRU,
        from: hostSide(from, XFEATURE.PKRU),
        to: hostSide(to, XFEATURE.PKRU),
      }),
    );
  }
  const glibc = glibcFinding(from, to, names);
  if (glibc) out.push(glibc);
  if (mx.from.estimated !== mx.to.estimated) {
    const [est, name, other, otherName] = mx.to.estimated ? [mx.to, B, mx.from, A] : [mx.from, A, mx.to, B];
    out.push(
      finding("mxcsr_mask_estimated", {
        message: `${name}'s MXCSR_MASK is not measured: ${hex(est.value)}, ${est.basis}; ${otherName}'s is ${hex(other.value)} (${other.basis})`,
        from: { mxcsrMask: mx.from.value },
        to: { mxcsrMask: mx.to.value },
      }),
    );
  }
  return out;
}
