/**
 * One entry point for readers of ELF cores (the scanner, `check --core`): headers, threads and
 * notes, the process memory, the CPU profile and each thread's decoded FPU state.
 */
import { isSigframeError } from "../errors.ts";
import type { MemoryImage } from "../memory.ts";
import type { Profile } from "../profile.ts";
import type { ByteSource } from "../source.ts";
import { computeLayout, type XsaveLayout } from "../xsave/layout.ts";
import { type ElfCore, parseElfCore } from "./core.ts";
import { coreMemory } from "./memory.ts";
import type { CoreThread, ElfNote } from "./notes.ts";
import { analyzeCoreXsave, type CoreXsaveInfo, profileFromCore } from "./profile.ts";
import { decodeFxsave, decodeXstate, type FpuState } from "./thread-state.ts";

export interface OpenCore {
  core: ElfCore;
  threads: CoreThread[];
  notes: ElfNote[];
  memory: MemoryImage;
  profile: Profile;
  /** What the XSAVE notes say: layout source, vendor inference, the gdb-13 quirk. */
  xsave: CoreXsaveInfo;
  /** The XSAVE layout of the CPU (computeLayout of `profile`): how the XSTATE notes are read. */
  layout: XsaveLayout;
  /** A thread's FPU registers from its NT_X86_XSTATE (else NT_PRFPREG); undefined if it has neither. */
  fpu(thread: CoreThread): ThreadFpu | undefined;
}

export interface ThreadFpu extends FpuState {
  /** The note decoded. */
  from: "NT_X86_XSTATE" | "NT_PRFPREG";
  /** Registers whose bytes the note does not hold (the gdb-13 quirk): their values read as zero. */
  lost: string[];
}

/** Opens a core: parses headers and notes (memory stays on the source until read). */
export function openCore(source: ByteSource, name = "core"): OpenCore {
  const core = parseElfCore(source);
  const xsave = analyzeCoreXsave(core);
  const profile = profileFromCore(core, name, xsave);
  const layout = computeLayout(profile);
  const memory = coreMemory(core);
  const lost = xsave.gdbQuirk && xsave.gdbQuirk.confidence !== "possible" ? xsave.gdbQuirk.lost : [];
  return {
    core,
    threads: core.threads,
    notes: core.notes,
    memory,
    profile,
    xsave,
    layout,
    fpu(thread: CoreThread): ThreadFpu | undefined {
      if (thread.xstate) {
        try {
          return { ...decodeXstate(thread.xstate, layout), from: "NT_X86_XSTATE", lost };
        } catch (e) {
          // Offsets in the decoder are relative to the note: make them file offsets.
          if (isSigframeError(e) && e.offset !== undefined && thread.xstateOffset !== undefined)
            e.offset += thread.xstateOffset;
          throw e;
        }
      }
      if (thread.fpregs) return { ...decodeFxsave(thread.fpregs), from: "NT_PRFPREG", lost: [] };
      return undefined;
    },
  };
}

export * from "./core.ts";
export * from "./format.ts";
export * from "./header.ts";
export { CoreMemory, coreMemory, segmentPerm } from "./memory.ts";
export * from "./notes.ts";
export * from "./profile.ts";
export * from "./thread-state.ts";
