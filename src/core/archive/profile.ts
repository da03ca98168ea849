/**
 * PROFILE arguments read as streams: a checkpoint archive gives the CPU its checkpoint was taken on
 * (cpuinfo.img, else the layout CRIU logged in dump.log, else what core-*.img shows:
 * criu/source-cpu.ts), a compressed core the profile of its notes, and compressed text or JSON
 * (a gzip'd `cpuid -r` dump, a dump.log.zst) what the same text gives (profiles/detect.ts).
 */
import { InvalidDataError } from "../errors.ts";
import type { Profile } from "../profile.ts";
import { MAX_PROFILE_BYTES, type ProfileReadOptions, profileFromBytes } from "../profiles/detect.ts";
import { uncompressed } from "./checkpoint.ts";
import { readStreamedCore } from "./core-scan.ts";
import { sniffStream } from "./input.ts";
import { scanCheckpointArchive } from "./scan.ts";
import { type ByteStream, readStream } from "./streams.ts";

export interface StreamProfileOptions extends ProfileReadOptions {
  /** `open` can be called again (a file, not a pipe). */
  reopenable?: boolean;
}

/** The source CPU of a checkpoint archive: the first container's (a pod's containers share a host). */
export async function profileFromArchive(
  open: () => ByteStream,
  name: string,
  opts: StreamProfileOptions = {},
): Promise<Profile> {
  const res = await scanCheckpointArchive(open, name, { reopenable: Boolean(opts.reopenable) });
  const withCpu = res.containers.filter((c) => c.target.profile);
  const first = withCpu[0];
  if (!first?.target.profile)
    throw new InvalidDataError(
      "the checkpoint does not record its CPU (no cpuinfo.img, no dump.log at log level 4, no XSAVE state in core-*.img)",
      { input: name },
    );
  const p: Profile = { ...first.target.profile, name, notes: [...first.target.profile.notes] };
  p.source = { ...p.source, path: name };
  const others = withCpu.slice(1).filter((c) => c.target.profile?.xcr0 !== p.xcr0);
  if (others.length)
    p.notes.push(
      `the archive's containers record different CPUs; this is ${first.target.container?.name ?? (first.target.name || "the first")}'s`,
    );
  return p;
}

/**
 * A profile from any input read as a stream (see the module comment). `open` gives the input's
 * bytes from the start; with `reopenable` it may be called more than once.
 */
export async function profileFromStream(
  open: () => ByteStream,
  name: string,
  opts: StreamProfileOptions = {},
): Promise<Profile> {
  const sniffed = await sniffStream(open());
  // The sniffed stream replays what was read: the first open after it is that stream.
  let first: ByteStream | undefined = sniffed.stream;
  const again = (): ByteStream => {
    const s = first ?? open();
    first = undefined;
    return s;
  };
  if (sniffed.kind === "checkpoint-archive") return profileFromArchive(again, name, opts);
  if (sniffed.kind === "core") return (await readStreamedCore(again, name, opts)).profile;
  const bytes = await readStream(uncompressed(again()), MAX_PROFILE_BYTES, name);
  return profileFromBytes(bytes, name, opts);
}
