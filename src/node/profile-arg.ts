/**
 * A PROFILE argument as the CLI takes it: a built-in name is answered from the built-in table
 * alone; `host`, a file or `-` loads the readers (profile-source.ts, with the CRIU, ELF and JSON
 * readers and the native helper's driver) only then.
 */
import { existsSync } from "node:fs";
import type { Profile } from "../core/profile.ts";
import { builtinProfile, isBuiltinName } from "../core/profiles/builtins.ts";
import type { ProfileReadOptions } from "../core/profiles/detect.ts";

export async function loadProfile(arg: string, opts: ProfileReadOptions = {}): Promise<Profile> {
  if (arg !== "host" && arg !== "-" && isBuiltinName(arg) && !existsSync(arg)) return builtinProfile(arg);
  return (await import("./profile-source.ts")).readProfile(arg, opts);
}
