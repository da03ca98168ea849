/**
 * What `criu cpuinfo check` (criu/arch/x86/cpu.c cpu_validate_features(), FPU mode) would say for
 * a pair of hosts: the image's FPU/FXSR/OSXSAVE/XSAVES bits must exist on the host, its
 * xfeatures_mask must be a subset of the host's, and xsave_size and xsave_size_max must be equal.
 * CRIU stops at the first failure; we list all of them and keep CRIU's first line as `reason`.
 */
import { hex } from "../hex.ts";
import type { Profile } from "../profile.ts";
import type { XsaveLayout } from "../xsave/layout.ts";

/** compel's XFEATURE_MASK_USER: the user components CRIU knows (no AMX, no APX). */
const CRIU_USER_MASK = 0x2ffn;

/** The FPU part of CRIU's cpuinfo.img as compel's compel_cpuid() fills it on a Linux host. */
export interface CriuCpuinfo {
  fpu: boolean;
  fxsr: boolean;
  osxsave: boolean;
  xsaves: boolean;
  /** CPUID(0xD,0) EDX:EAX gated by the CPUID features, & XFEATURE_MASK_USER. */
  xfeaturesMask: bigint;
  /** CPUID(0xD,0).EBX under Linux's XCR0. */
  xsaveSize: number;
  /** CPUID(0xD,0).ECX. */
  xsaveSizeMax: number;
}

export function criuCpuinfo(layout: XsaveLayout, profile?: Profile): CriuCpuinfo {
  const cpu = profile?.cpuid;
  const fpuBit = cpu ? cpu.has("FPU") : true;
  return {
    fpu: fpuBit,
    fxsr: cpu ? cpu.has("FXSR") : true,
    osxsave: layout.xsave,
    xsaves: cpu ? cpu.has("XSAVES") : false,
    xfeaturesMask: layout.xsave ? layout.xcr0 & CRIU_USER_MASK : 0n,
    xsaveSize: layout.xsave ? layout.maxUserSize : 0,
    xsaveSizeMax: layout.xsave ? layout.maxSize : 0,
  };
}

export interface CriuVerdict {
  /** Whether `criu restore --cpu-cap=fpu` (and `criu cpuinfo check`) would go ahead. */
  wouldAccept: boolean;
  /** CRIU's own first error line, or why it accepts. */
  reason: string;
  /** Every rule that fails (CRIU reports only the first). */
  failures: string[];
  image: CriuCpuinfo;
  host: CriuCpuinfo;
}

export function criuCheck(image: CriuCpuinfo, host: CriuCpuinfo): CriuVerdict {
  const failures: string[] = [];
  const flag = (k: "fpu" | "fxsr" | "osxsave" | "xsaves") => image[k] && !host[k];
  if (flag("fpu") || flag("fxsr") || flag("osxsave") || flag("xsaves")) {
    const b = (v: boolean) => (v ? 1 : 0);
    failures.push(
      `FPU feature required by image is not supported on host (fpu:${b(host.fpu)} fxsr:${b(host.fxsr)} osxsave:${b(host.osxsave)} xsaves:${b(host.xsaves)})`,
    );
  }
  const extra = image.xfeaturesMask & ~host.xfeaturesMask;
  if (extra) failures.push(`CPU xfeatures has unsupported bits (${hex(extra)})`);
  if (image.xsaveSize !== host.xsaveSize)
    failures.push(`CPU xsave size mismatch (${image.xsaveSize}/${host.xsaveSize})`);
  if (image.xsaveSizeMax !== host.xsaveSizeMax)
    failures.push(`CPU xsave size_max mismatch (${image.xsaveSizeMax}/${host.xsaveSizeMax})`);
  return {
    wouldAccept: failures.length === 0,
    reason:
      failures[0] ??
      `xfeatures ${hex(image.xfeaturesMask)} ⊆ ${hex(host.xfeaturesMask)}, xsave_size ${image.xsaveSize} and xsave_size_max ${image.xsaveSizeMax} equal`,
    failures,
    image,
    host,
  };
}
