/** The signal-frame codec: decode, encode, build and check x86-64 (and ia32) signal frames. */

export * from "./annotate.ts";
export * from "./build.ts";
export * from "./check.ts";
export * from "./codec.ts";
export * from "./fields.ts";
export * from "./fpstate.ts";
export * from "./frame.ts";
export * from "./ia32.ts";
export * from "./ia32-build.ts";
export * from "./state.ts";
