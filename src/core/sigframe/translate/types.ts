/** The options and results of a translation (translate.ts), shared by its steps. */
import type { MxcsrMaskInput } from "../../mxcsr.ts";
import type { Policy, Prediction } from "../../sigreturn/types.ts";
import type { XsaveLayout } from "../../xsave/layout.ts";
import type { Fpstate } from "../fpstate.ts";
import type { SigframeImage } from "../frame.ts";

export type TranslateStyle = "kernel" | "criu";

export interface TranslateOptions {
  /** CPU A: the layout the input was written at (its standard offsets locate the components). */
  from: XsaveLayout;
  /** The receiving task on CPU B (user_size, user features, offsets). */
  to: XsaveLayout;
  /** How the sw bytes are written for B; default kernel. */
  style?: TranslateStyle;
  /**
   * B's MXCSR_MASK: a measured raw value, or a resolved one (mxcsrMaskOf(profile): measured or
   * estimated from CPUID); absent → assumed 0xffff (an x86-64 CPU with DAZ).
   */
  mxcsrMask?: MxcsrMaskInput;
  /** Clear MXCSR bits outside the mask instead of only reporting them. */
  fixMxcsr?: boolean;
  /**
   * Bytes of the output area; at least xstate_size + 4 for B. Default: exactly that. A frame that
   * must keep its size passes the input area's size.
   */
  areaSize?: number;
}

export type ComponentAction = "kept" | "moved" | "init" | "dropped";
/** What the source frame holds for a component: state, the init state, or nothing at all. */
export type SourceState = "data" | "init" | "absent";

export interface ComponentMove {
  bit: number;
  name: string;
  /**
   * kept: x87/SSE, the same on every CPU; moved: state carried to B's offset; init: B's task has
   * it and it is left init (XSTATE_BV clear); dropped: B's task lacks it.
   */
  action: ComponentAction;
  source: SourceState;
  /** Where A's frame holds it. */
  from?: { offset: number; size: number };
  /** Where B's layout puts it. */
  to?: { offset: number; size: number };
  /** Dropped although its registers were not all zero (the init value): real loss. */
  lost: boolean;
  note?: string;
}

export interface MxcsrReport {
  value: number;
  mask: number;
  /** The mask is not measured on B (estimated from CPUID or assumed). */
  estimated: boolean;
  /** Where the mask comes from, for messages. */
  basis: string;
  /** Bits outside the mask: FXRSTOR/XRSTOR raise #GP on B (SIGSEGV). */
  unsupported: number;
  /** Bits cleared by fixMxcsr. */
  fixed: boolean;
  /** The value written. */
  written: number;
}

export interface AreaSizes {
  xstateSize: number;
  extendedSize: number;
  xfeatures: bigint;
  xstateBv: bigint;
  /** Bytes of the area (input: from the fpstate to the end of the input). */
  size: number;
}

export interface FpstateTranslation {
  fpstate: Fpstate;
  bytes: Uint8Array;
  style: TranslateStyle;
  components: ComponentMove[];
  /** Names of dropped components whose state was not init. */
  lost: string[];
  /** Names of every dropped component. */
  dropped: string[];
  mxcsr: MxcsrReport;
  source: AreaSizes;
  result: AreaSizes;
  /** Area bytes B needs for this style: xstate_size + 4. */
  needed: number;
  /** Facts about the input or the output a user should know. */
  notes: string[];
}

/** Where the frame moved, for a whole frame whose FPU area changed size. */
export interface Relocation {
  /** Offset of the FPU area in the image (unchanged). */
  fpstateOffset: number;
  /** Address of the image's first byte, before and after. */
  base: { from: bigint; to: bigint };
  fpstate: { from: bigint; to: bigint };
  /** One past the image's last byte, before and after. */
  end: { from: bigint; to: bigint };
  /** to − from (bytes; negative = lower addresses). */
  delta: bigint;
  /** The frame kept its addresses (same start and fpstate pointer). */
  inPlace: boolean;
}

export interface FrameTranslation {
  image: SigframeImage;
  bytes: Uint8Array;
  fpstate: FpstateTranslation;
  relocation: Relocation;
}

export interface TranslateFrameOptions extends TranslateOptions {
  /** Write B's area inside A's bytes so the frame keeps its size and addresses. */
  keepSize?: boolean;
}

/** What B's XRSTOR would read for a component of the untranslated frame. */
export interface UntranslatedRead {
  bit: number;
  name: string;
  /** Where A's frame holds it. */
  from: { offset: number; size: number };
  /** Where B reads it. */
  to: { offset: number; size: number };
  /**
   * What the untranslated bytes B would load hold: A's components the frame carries, "magic2",
   * and "past the frame" when the read runs beyond the input.
   */
  overlaps: string[];
  /** B's read runs past the source frame's magic2 (xstate_size) / past its last byte. */
  pastXstateSize: boolean;
  pastArea: boolean;
}

export interface TranslationPrediction {
  prediction: Prediction;
  /** Every moved component (and MXCSR) is loaded from the frame at B's offset. */
  restored: boolean;
  /** Moved components that are not loaded from their B offset. */
  missing: string[];
}

export interface PredictTranslationOptions {
  task: XsaveLayout;
  policies: readonly Policy[];
  /** The fpstate's address, where known. */
  address?: bigint;
  /** Bytes mapped from the fpstate on; default the larger of the area and user_size + 4. */
  readableBytes?: number;
  mxcsrMask?: number;
  compactedForm?: boolean;
}
