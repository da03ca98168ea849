/**
 * What the explorer computes, without the DOM: profiles from bytes, layouts, diffs and checks,
 * with the core's rules for the CLI's `layout`, `diff` and `check`, so both say the same.
 */

import { sniffStream } from "../../src/core/archive/input.ts";
import { profileFromStream } from "../../src/core/archive/profile.ts";
import { liveFrameCount, scanStreamed } from "../../src/core/archive/scan-input.ts";
import { type ByteStream, fromWebReadable, type WebReadable } from "../../src/core/archive/streams.ts";
import { type CheckReport, type CheckRequest, checkHosts } from "../../src/core/compat/check-hosts.ts";
import { UsageError } from "../../src/core/errors.ts";
import { checkInputSize } from "../../src/core/input.ts";
import type { KernelVersion } from "../../src/core/kernel.ts";
import { fieldValue, kernelOption } from "../../src/core/options.ts";
import type { Profile } from "../../src/core/profile.ts";
import { BUILTIN_PROFILES } from "../../src/core/profiles/builtins.ts";
import { MAX_PROFILE_BYTES, profileFromBytes } from "../../src/core/profiles/detect.ts";
import { scannedFrames } from "../../src/core/scan/cases.ts";
import type { ProcessScan, ScanTarget } from "../../src/core/scan/targets.ts";
import { choosePolicies, type PolicyChoice } from "../../src/core/sigreturn/index.ts";
import { diffLayouts, type LayoutDiff } from "../../src/core/xsave/diff.ts";
import type { LayoutOptions, XsaveLayout } from "../../src/core/xsave/layout.ts";
import { profileLayout } from "../../src/core/xsave/options.ts";
import { diffSummary } from "../../src/core/xsave/report.ts";
import { type FolderFile, folderTar } from "./folder.ts";

export { type ComponentRow, componentRows, layoutHeader } from "../../src/core/xsave/report.ts";

/** A profile from a file's bytes, format detected as the CLI does (`cpuid -r`, JSON, cpuinfo.img, core). */
export function profileFromFile(bytes: Uint8Array, name: string): Profile {
  checkInputSize(bytes.length, MAX_PROFILE_BYTES, name);
  return profileFromBytes(bytes, name);
}

/** What the page reads a file through: the browser's File (or any Blob with a name). */
export interface Upload {
  name: string;
  stream(): unknown;
}

/** A file's bytes as the core's readers stream them (never read whole; can be read again). */
export function uploadStream(f: Upload): ByteStream {
  return fromWebReadable(f.stream() as WebReadable<Uint8Array>);
}

/**
 * A profile from any file the CLI takes as a PROFILE: profile files, ELF cores, and streamed in
 * the page, checkpoint archives (the CPU the checkpoint was taken on), dump.log, compressed cores.
 */
export function profileFromUpload(f: Upload): Promise<Profile> {
  return profileFromStream(() => uploadStream(f), f.name, { reopenable: true });
}

/** A checkpoint archive or a core (plain or compressed) scanned in the page, for `check`. */
export interface ScannedImage {
  name: string;
  kind: "checkpoint" | "core";
  parts: { target: ScanTarget; scans: ProcessScan[] }[];
  /** Live frames found, and where the source CPU came from. */
  liveFrames: number;
  cpuSource?: string;
}

/** A file of a folder the user picked: its path in the folder (`webkitRelativePath`). */
export interface FolderUpload extends Upload {
  size: number;
  webkitRelativePath: string;
}

/**
 * Scans a CRIU image folder the user picked (`sigframe scan DIR`): its files are streamed to the
 * archive reader as the tar of the folder would be (folder.ts), so the page reads it as it reads
 * a checkpoint archive. `name` is the folder's.
 */
export async function scanFolder(files: readonly FolderUpload[], name: string): Promise<ScannedImage> {
  // Paths below the picked folder (webkitRelativePath starts with the folder's own name). As
  // `scan DIR` reads a directory: the files in it, and in its checkpoint/ folder where a container
  // engine put the images (an unpacked Podman archive); not other subfolders (logs/, …).
  const members: FolderFile[] = files
    .map((f) => ({
      path: f.webkitRelativePath.split("/").slice(1).join("/") || f.name,
      size: f.size,
      stream: () => uploadStream(f),
    }))
    .filter((m) => /^(checkpoint\/)?[^/]+$/.test(m.path));
  if (!members.some((m) => /(^|\/)pstree\.img$/.test(m.path)))
    throw new UsageError("not a CRIU image folder: no pstree.img in it", { input: name });
  const { parts } = await scanStreamed("checkpoint-archive", () => folderTar(members), name, {
    reopenable: true,
  });
  return counted({ name, kind: "checkpoint", parts, liveFrames: 0 });
}

/** Live frames found, and where the source CPU came from. */
function counted(image: ScannedImage): ScannedImage {
  image.liveFrames = liveFrameCount(image.parts);
  const src = image.parts.find((p) => p.target.cpuSource)?.target.cpuSource;
  if (src) image.cpuSource = src;
  return image;
}

/** Scans a checkpoint archive or a core the user opened, as `sigframe scan FILE` does. */
export async function scanUpload(f: Upload): Promise<ScannedImage> {
  const sniffed = await sniffStream(uploadStream(f));
  if (sniffed.kind !== "checkpoint-archive" && sniffed.kind !== "core")
    throw new UsageError(
      "neither a checkpoint archive (tar: plain, gzip or zstd) nor an ELF core (plain or zstd/xz/lz4-compressed)",
      { input: f.name },
    );
  const { parts } = await scanStreamed(sniffed.kind, () => uploadStream(f), f.name, { reopenable: true });
  return counted({
    name: f.name,
    kind: sniffed.kind === "core" ? "core" : "checkpoint",
    parts,
    liveFrames: 0,
  });
}

export function builtinList(): { name: string; title: string }[] {
  return BUILTIN_PROFILES.map((b) => ({ name: b.name, title: b.title }));
}

/** `--kernel` as typed: empty means none; a bad version fails as the CLI's option does. */
export function kernelFromText(text: string): KernelVersion | undefined {
  return kernelOption(fieldValue(text));
}

type LayoutChoice = Pick<LayoutOptions, "kernel" | "amx">;

/** The CLI's layout for one profile: a profile that knows its kernel but not XCR0 uses that kernel. */
export function layoutFor(p: Profile, choice: LayoutChoice = {}): XsaveLayout {
  const o: LayoutOptions = {};
  if (choice.kernel) o.kernel = choice.kernel;
  if (choice.amx) o.amx = true;
  return profileLayout(p, o);
}

interface DiffView {
  diff: LayoutDiff;
  a: XsaveLayout;
  b: XsaveLayout;
  /** The closing line of `sigframe diff`. */
  summary: string;
}

export function diffFor(pa: Profile, pb: Profile, choice: LayoutChoice = {}): DiffView {
  const a = layoutFor(pa, choice);
  const b = layoutFor(pb, choice);
  const d = diffLayouts(a, b);
  return { diff: d, a, b, summary: diffSummary(d) };
}

interface CheckChoice {
  kernel?: KernelVersion;
  /** "" or undefined: all three. */
  policy?: string;
}

/** `--policy P` or `--kernel K` to the policies to judge by, with the CLI's messages. */
export function policiesFor(choice: CheckChoice): PolicyChoice {
  return choosePolicies(choice.policy || undefined, choice.kernel);
}

/**
 * `sigframe check --from A --to B [--kernel K | --policy P]`, as the CLI runs it; with `image`,
 * `check --checkpoint/--core IMAGE` (A is then the CPU the image records).
 */
export function checkFor(
  pa: Profile | undefined,
  pb: Profile,
  choice: CheckChoice = {},
  image?: ScannedImage,
): Promise<CheckReport> {
  const request: CheckRequest = { to: pb };
  if (pa) request.from = pa;
  if (choice.kernel) request.kernel = choice.kernel.text;
  if (choice.policy) request.policy = choice.policy;
  if (image) request[image.kind] = image.name;
  return checkHosts(request, {
    loadProfile: (arg) => {
      throw new UsageError("the explorer checks profiles it has loaded", { input: arg });
    },
    checkpointFrames: (_kind, path, from, to) => scannedFrames(image!.parts, path, from, to),
  });
}
