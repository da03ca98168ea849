/** The sigreturn model: predict(), the policies and their reason codes. */
export {
  choosePolicies,
  destinationPolicies,
  type KernelPolicies,
  MEASURED_CLASSIC_6_18,
  POLICY_KERNELS,
  POLICY_KERNELS_SHORT,
  type PolicyChoice,
  parsePolicy,
  policiesForKernel,
  withDestinationKernel,
} from "./policy.ts";
export {
  ASSUMED_RECEIVING_MXCSR_MASK,
  DEFAULT_FPSTATE_ADDRESS,
  DEFAULT_MXCSR_MASK,
  losesState,
  predict,
} from "./predict.ts";
export { REASONS, type ReasonCode, type ReasonInfo } from "./reasons.ts";
export * from "./types.ts";
