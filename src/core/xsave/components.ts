/**
 * XSAVE state components, numbered as the kernel's `enum xfeature`
 * (arch/x86/include/asm/fpu/types.h, v6.16 with APX) plus AMD's LWP (bit 62).
 */
import { bitsOf } from "../hex.ts";

export interface ComponentInfo {
  bit: number;
  /** Kernel name without the XFEATURE_ prefix. */
  name: string;
  /** What it holds, for humans. */
  description: string;
  /** Supervisor (IA32_XSS) component by architecture; user (XCR0) otherwise. */
  supervisor: boolean;
  /** Size fixed by the architecture, where it is (the kernel checks CPUID against it). */
  archSize?: number;
}

export const COMPONENTS: readonly ComponentInfo[] = [
  {
    bit: 0,
    name: "x87",
    description: "x87 FPU: FCW, FSW, FTW, FOP, FIP, FDP, ST0-7",
    supervisor: false,
    archSize: 160,
  },
  { bit: 1, name: "SSE", description: "XMM0-15 and MXCSR", supervisor: false, archSize: 256 },
  { bit: 2, name: "YMM", description: "upper 128 bits of YMM0-15", supervisor: false, archSize: 256 },
  { bit: 3, name: "BNDREGS", description: "MPX bounds registers BND0-3", supervisor: false, archSize: 64 },
  { bit: 4, name: "BNDCSR", description: "MPX BNDCFGU and BNDSTATUS", supervisor: false, archSize: 64 },
  { bit: 5, name: "OPMASK", description: "AVX-512 opmask registers k0-7", supervisor: false, archSize: 64 },
  { bit: 6, name: "ZMM_Hi256", description: "upper 256 bits of ZMM0-15", supervisor: false, archSize: 512 },
  { bit: 7, name: "Hi16_ZMM", description: "ZMM16-31, all 512 bits", supervisor: false, archSize: 1024 },
  { bit: 8, name: "PT", description: "Intel Processor Trace", supervisor: true },
  { bit: 9, name: "PKRU", description: "protection-key rights register", supervisor: false, archSize: 8 },
  { bit: 10, name: "PASID", description: "ENQCMD PASID", supervisor: true, archSize: 8 },
  { bit: 11, name: "CET_U", description: "user CET: U_CET and PL3_SSP", supervisor: true, archSize: 16 },
  {
    bit: 12,
    name: "CET_S",
    description: "supervisor CET shadow-stack pointers",
    supervisor: true,
    archSize: 24,
  },
  { bit: 13, name: "HDC", description: "hardware duty cycling", supervisor: true },
  { bit: 14, name: "UINTR", description: "user interrupts", supervisor: true },
  { bit: 15, name: "LBR", description: "architectural last-branch records", supervisor: true },
  { bit: 16, name: "HWP", description: "hardware P-states", supervisor: true },
  { bit: 17, name: "XTILECFG", description: "AMX tile configuration", supervisor: false, archSize: 64 },
  { bit: 18, name: "XTILEDATA", description: "AMX tile data TMM0-7", supervisor: false, archSize: 8192 },
  { bit: 19, name: "APX", description: "APX extended GPRs R16-R31", supervisor: false, archSize: 128 },
  { bit: 62, name: "LWP", description: "AMD lightweight profiling", supervisor: false },
];

const BY_BIT = new Map(COMPONENTS.map((c) => [c.bit, c]));
const BY_NAME = new Map(COMPONENTS.map((c) => [c.name.toLowerCase(), c]));

export function componentInfo(bit: number): ComponentInfo {
  return (
    BY_BIT.get(bit) ?? { bit, name: `XFEATURE_${bit}`, description: "unknown component", supervisor: false }
  );
}

/** The components of a mask by name, ascending by bit: `x87, SSE, YMM`. */
export function componentNames(mask: bigint, separator = ", "): string {
  return bitsOf(mask)
    .map((b) => componentInfo(b).name)
    .join(separator);
}

export function componentByName(name: string): ComponentInfo | undefined {
  return BY_NAME.get(name.toLowerCase().replace(/^xfeature_/, ""));
}

/** Bit numbers as the kernel names them. */
export const XFEATURE = {
  FP: 0,
  SSE: 1,
  YMM: 2,
  BNDREGS: 3,
  BNDCSR: 4,
  OPMASK: 5,
  ZMM_Hi256: 6,
  Hi16_ZMM: 7,
  PT: 8,
  PKRU: 9,
  PASID: 10,
  CET_U: 11,
  CET_S: 12,
  LBR: 15,
  XTILECFG: 17,
  XTILEDATA: 18,
  APX: 19,
  LWP: 62,
} as const;

export const MASK_FPSSE = 0x3n;
/** XFEATURE_MASK_USER_DYNAMIC (arch/x86/include/asm/fpu/xstate.h, v5.16+): tile data. */
export const MASK_USER_DYNAMIC = 1n << 18n;

/** Legacy region and header geometry (arch/x86/include/uapi/asm/sigcontext.h). */
export const FXSAVE_SIZE = 512;
export const XSAVE_HDR_OFFSET = 512;
export const XSAVE_HDR_SIZE = 64;
/** sizeof(struct fxregs_state) + sizeof(struct xstate_header): min_xstate_size of the sigreturn check. */
export const MIN_XSTATE_SIZE = 576;
export const SW_BYTES_OFFSET = 464;
export const FP_XSTATE_MAGIC1 = 0x46505853;
export const FP_XSTATE_MAGIC2 = 0x46505845;
export const FP_XSTATE_MAGIC2_SIZE = 4;

/** The vendors whose standard-format offsets are known without CPUID (for cores and cpuinfo.img). */
export type Vendor = "GenuineIntel" | "AuthenticAMD";

/**
 * Standard-format offsets (CPUID(0xD,i).EBX) and sizes as every known CPU of the vendor reports
 * them (the cpuid corpus: Intel Skylake … Emerald Rapids, AMD Zen 3 … Zen 5). AMD has no MPX,
 * AMX or APX.
 */
export const VENDOR_OFFSETS: Readonly<
  Record<Vendor, Readonly<Record<number, readonly [offset: number, size: number]>>>
> = {
  GenuineIntel: {
    [XFEATURE.YMM]: [576, 256],
    [XFEATURE.BNDREGS]: [960, 64],
    [XFEATURE.BNDCSR]: [1024, 64],
    [XFEATURE.OPMASK]: [1088, 64],
    [XFEATURE.ZMM_Hi256]: [1152, 512],
    [XFEATURE.Hi16_ZMM]: [1664, 1024],
    [XFEATURE.PKRU]: [2688, 8],
    [XFEATURE.XTILECFG]: [2752, 64],
    [XFEATURE.XTILEDATA]: [2816, 8192],
    [XFEATURE.APX]: [960, 128],
  },
  AuthenticAMD: {
    [XFEATURE.YMM]: [576, 256],
    [XFEATURE.OPMASK]: [832, 64],
    [XFEATURE.ZMM_Hi256]: [896, 512],
    [XFEATURE.Hi16_ZMM]: [1408, 1024],
    [XFEATURE.PKRU]: [2432, 8],
  },
};
