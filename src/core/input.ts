/** Whole-file inputs: the size check every reader applies before it decodes. */
import { InvalidDataError } from "./errors.ts";

/** Refuses an input of `size` bytes when it is over `max`, naming it as `name`. */
export function checkInputSize(size: number, max: number, name: string): void {
  if (size > max) {
    throw new InvalidDataError(`file is ${size} bytes; the limit for this input is ${max}`, { input: name });
  }
}
