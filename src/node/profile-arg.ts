/**
 * A PROFILE argument as the CLI takes it: a built-in name is answered from the built-in table
 * alone; `host`, a file, a checkpoint or `-` loads the readers (profile-source.ts, with the CRIU,
 * ELF and JSON readers and the native helper's driver) only then, and the archive and codec
 * readers only for a checkpoint, a compressed input or stdin.
 */
import { existsSync } from "node:fs";
import type { Profile } from "../core/profile.ts";
import { builtinProfile, isBuiltinName } from "../core/profiles/builtins.ts";
import type { ProfileReadOptions } from "../core/profiles/detect.ts";

export async function loadProfile(arg: string, opts: ProfileReadOptions = {}): Promise<Profile> {
  if (arg !== "host" && arg !== "-" && isBuiltinName(arg) && !existsSync(arg)) return builtinProfile(arg);
  const source = await import("./profile-source.ts");
  return (await source.readStreamedProfile(arg, opts)) ?? source.readProfile(arg, opts);
}
