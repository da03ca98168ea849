/** Built-in CPU profiles, written from documented facts (only what layouts need). */
import type { Profile } from "../profile.ts";

export interface BuiltinProfile {
  /** Name as typed on the command line, e.g. `intel-icelake-server`. */
  name: string;
  aliases?: string[];
  /** One line for `sigframe profiles`. */
  title: string;
  build(): Profile;
}

export const BUILTIN_PROFILES: BuiltinProfile[] = [];
