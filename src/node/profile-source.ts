/**
 * Reads a PROFILE argument: `host`, a built-in name, or a path (format auto-detected), with every
 * reader loaded. The CLI goes through profile-arg.ts, which loads this module only when the
 * argument is not a built-in name.
 */
import { spawnSync } from "node:child_process";
import { closeSync, existsSync, openSync, readSync, statSync } from "node:fs";
import { release } from "node:os";
import { Cpuid, type CpuidLeaf } from "../core/cpuid/cpuid.ts";
import { EnvironmentError, UsageError } from "../core/errors.ts";
import { type Profile, profileFromCpuid } from "../core/profile.ts";
import { profileFromCpuidR } from "../core/profiles/cpuid-r.ts";
import {
  builtinProfile,
  isBuiltinName,
  MAX_PROFILE_BYTES,
  type ProfileReadOptions,
  profileFromBytes,
  profileFromElf,
} from "../core/profiles/detect.ts";
import { detectFormat, HEAD_BYTES, type InputFormat } from "../core/profiles/formats.ts";
import { withFileSource } from "./byte-source.ts";
import { readInput } from "./files.ts";
import { nativeHostProvider } from "./native.ts";
import { fileStream } from "./stream-input.ts";

/** One way of reading this machine's CPU; undefined when it cannot here. */
export interface HostProvider {
  name: string;
  capture(): Profile | undefined;
}

export function readProfile(arg: string, opts: ProfileReadOptions = {}): Profile {
  if (arg === "host") return hostProfile();
  if (arg !== "-" && !existsSync(arg) && isBuiltinName(arg)) return builtinProfile(arg);
  if (arg !== "-" && !existsSync(arg)) {
    // Neither a file nor a built-in: fails with the closest built-in names.
    if (!arg.includes("/") && !arg.includes(".")) return builtinProfile(arg);
    throw new UsageError("no such file or directory (and not a built-in profile name)", { input: arg });
  }
  const format = arg === "-" ? undefined : fileFormat(arg);
  if (format?.id === "elf-core" || format?.id === "elf") {
    // Cores can be many GiB: read them through random access, never whole.
    return withFileSource(arg, (src) => profileFromElf(src, arg));
  }
  const f = readInput(arg, MAX_PROFILE_BYTES);
  return profileFromBytes(f.bytes, f.name, opts);
}

/**
 * A PROFILE argument that is read as a stream or a directory: a CRIU checkpoint (directory or
 * archive: the CPU it was taken on), a compressed core or compressed text, or anything on stdin;
 * undefined for what `readProfile` reads (a profile file, an ELF core, `host`, a built-in name).
 */
export async function readStreamedProfile(
  arg: string,
  opts: ProfileReadOptions = {},
): Promise<Profile | undefined> {
  if (arg === "-") {
    const { profileFromStream } = await import("../core/archive/profile.ts");
    return profileFromStream(() => fileStream("-"), "-", opts);
  }
  let dir: boolean;
  try {
    dir = statSync(arg).isDirectory();
  } catch {
    return undefined;
  }
  if (dir) return (await import("./scan-target.ts")).checkpointDirProfile(arg);
  const format = fileFormat(arg);
  if (format?.kind !== "archive" && format?.kind !== "compressed") return undefined;
  const { profileFromStream } = await import("../core/archive/profile.ts");
  return profileFromStream(() => fileStream(arg), arg, { ...opts, reopenable: true });
}

/** The format of a file from its first bytes (formats.ts); undefined for text, or when unreadable. */
function fileFormat(path: string): InputFormat | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    const head = new Uint8Array(HEAD_BYTES);
    const n = readSync(fd, head, 0, HEAD_BYTES, 0);
    return detectFormat(head.subarray(0, n));
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

let cachedHost: Profile | undefined;

/**
 * This machine, from the first of `providers` that can read it (default HOST_PROVIDERS: the
 * native helper, else /dev/cpu/0/cpuid, else `cpuid -r -1`). The default answer is kept.
 */
export function hostProfile(providers: readonly HostProvider[] = HOST_PROVIDERS): Profile {
  const shared = providers === HOST_PROVIDERS;
  if (shared && cachedHost) return cachedHost;
  if (process.platform !== "linux" || process.arch !== "x64") {
    throw new EnvironmentError(
      `host profiles need Linux on x86-64 (this is ${process.platform}/${process.arch})`,
      {
        input: "host",
      },
    );
  }
  for (const p of providers) {
    const prof = p.capture();
    if (prof) {
      if (shared) cachedHost = prof;
      return prof;
    }
  }
  throw new EnvironmentError(
    "cannot read this CPU's CPUID: native helper not built, /dev/cpu/0/cpuid not readable, 'cpuid' not installed",
    { input: "host" },
  );
}

/** `cpuid -r -1` (Debian's cpuid package): CPUID only, XCR0 not measured. */
function readCpuidTool(): Profile | undefined {
  const r = spawnSync("cpuid", ["-r", "-1"], { encoding: "utf8", timeout: 10_000 });
  if (r.error || r.status !== 0 || !r.stdout) return undefined;
  const p = profileFromCpuidR(r.stdout, "host");
  p.source = { kind: "host" };
  p.kernel = release();
  p.notes.push("read with 'cpuid -r -1'; XCR0 not measured");
  return p;
}

/** Ways of reading this machine's CPU, best first. */
export const HOST_PROVIDERS: readonly HostProvider[] = [
  nativeHostProvider,
  { name: "/dev/cpu/0/cpuid", capture: readDevCpuid },
  { name: "cpuid -r -1", capture: readCpuidTool },
];

/** Reads CPUID through the Linux cpuid driver: the file offset is (subleaf << 32) | leaf. */
function readDevCpuid(): Profile | undefined {
  const dev = "/dev/cpu/0/cpuid";
  if (!existsSync(dev)) return undefined;
  let fd: number;
  try {
    fd = openSync(dev, "r");
  } catch {
    return undefined;
  }
  try {
    const buf = new Uint8Array(16);
    const dv = new DataView(buf.buffer);
    const q = (leaf: number, sub: number): CpuidLeaf | undefined => {
      const pos = BigInt(sub) * 2n ** 32n + BigInt(leaf >>> 0);
      const n = readSync(fd, buf, 0, 16, pos);
      if (n !== 16) return undefined;
      return {
        leaf: leaf >>> 0,
        subleaf: sub,
        eax: dv.getUint32(0, true),
        ebx: dv.getUint32(4, true),
        ecx: dv.getUint32(8, true),
        edx: dv.getUint32(12, true),
      };
    };
    const leaves: CpuidLeaf[] = [];
    const l0 = q(0, 0);
    if (!l0) return undefined;
    const subleafCounts: Record<number, number> = {
      4: 8,
      7: 3,
      11: 4,
      13: 64,
      15: 2,
      16: 4,
      18: 4,
      20: 2,
      29: 2,
      30: 2,
      31: 6,
      36: 2,
    };
    for (let leaf = 0; leaf <= l0.eax && leaf < 0x40; leaf++) {
      const subs = subleafCounts[leaf] ?? 1;
      for (let s = 0; s < subs; s++) {
        const l = q(leaf, s);
        if (l) leaves.push(l);
      }
    }
    const e0 = q(0x80000000, 0);
    if (e0 && e0.eax >= 0x80000000) {
      for (let leaf = 0x80000000; leaf <= e0.eax && leaf < 0x80000040; leaf++) {
        const l = q(leaf, 0);
        if (l) leaves.push(l);
      }
    }
    const cpuid = new Cpuid(leaves);
    const p = profileFromCpuid(cpuid, "host", { kind: "host" }, [
      "read through /dev/cpu/0/cpuid; XCR0 not measured (native helper not built)",
    ]);
    p.kernel = release();
    return p;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}
