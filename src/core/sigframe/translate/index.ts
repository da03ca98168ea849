/** Moving XSAVE state from one CPU's layout to another's: validate, plan, write, verify. */
export * from "./predict.ts";
export * from "./translate.ts";
export * from "./types.ts";
export { verifyTranslation } from "./verify.ts";
