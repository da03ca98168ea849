/** File and stdin input with a size cap, and all-or-nothing output files. */
import {
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { InvalidDataError, UsageError } from "../core/errors.ts";
import { checkInputSize } from "../core/input.ts";

/** Default cap for whole-file reads (frames, profiles, images): 256 MiB. */
const DEFAULT_MAX_INPUT = 256 * 1024 * 1024;

interface InputFile {
  /** Name to show in errors: the path, or `-`. */
  name: string;
  bytes: Uint8Array;
}

/** Whether `path` names a directory (false where it does not exist or cannot be read). */
export function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Opens a file for reading; one that cannot be opened is a usage error naming it. */
export function openInput(path: string): number {
  try {
    return openSync(path, "r");
  } catch (e) {
    throw new UsageError(describeFsError(e), { input: path });
  }
}

/** The first `n` bytes of a file (fewer if it is shorter); a file that cannot be read is a usage error. */
export function readHead(path: string, n: number): Uint8Array {
  const fd = openInput(path);
  try {
    const b = new Uint8Array(n);
    return b.subarray(0, readSync(fd, b, 0, n, 0));
  } catch (e) {
    throw new UsageError(describeFsError(e), { input: path });
  } finally {
    closeSync(fd);
  }
}

/** A CRIU image directory, or an engine's unpacked checkpoint with the images in checkpoint/. */
export function isCheckpointDir(dir: string): boolean {
  return existsSync(join(dir, "pstree.img")) || existsSync(join(dir, "checkpoint", "pstree.img"));
}

/** Reads a whole file (or stdin for `-`), refusing more than `max` bytes without allocating them. */
export function readInput(path: string, max = DEFAULT_MAX_INPUT): InputFile {
  if (path === "-") return { name: "-", bytes: readFd(0, max, "-") };
  const fd = openInput(path);
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new UsageError("is a directory", { input: path });
    if (st.isFile()) checkInputSize(st.size, max, path);
    return { name: path, bytes: readFd(fd, max, path) };
  } finally {
    closeSync(fd);
  }
}

function readFd(fd: number, max: number, name: string): Uint8Array {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const buf = new Uint8Array(1 << 16);
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buf, 0, buf.length, null);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EAGAIN") continue;
      if (code === "EOF") break;
      throw new UsageError(describeFsError(e), { input: name });
    }
    if (n === 0) break;
    total += n;
    if (total > max)
      throw new InvalidDataError(`input is larger than the limit of ${max} bytes`, { input: name });
    chunks.push(buf.slice(0, n));
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/**
 * Refuses an output file that is one of the inputs (the same file under any name, as `cp a a`
 * does): the atomic rename would replace the input without a word.
 */
export function refuseOutputOverInput(output: string | undefined, inputs: (string | undefined)[]): void {
  if (output === undefined || output === "-") return;
  let out: { dev: number; ino: number };
  try {
    out = statSync(output);
  } catch {
    return; // a new file cannot be an input
  }
  for (const i of inputs) {
    if (i === undefined || i === "-") continue;
    try {
      const s = statSync(i);
      if (s.dev === out.dev && s.ino === out.ino)
        throw new UsageError(
          `is the input ${JSON.stringify(i)}: writing it would replace the input; give another output file`,
          { input: output },
        );
    } catch (e) {
      if (e instanceof UsageError) throw e;
    }
  }
}

/** Writes the whole file or nothing: a temp file in the same folder, then rename. `-` is stdout. */
export function writeOutputAtomic(
  path: string,
  data: Uint8Array | string,
  stdout: (s: string | Uint8Array) => void,
): void {
  if (path === "-") {
    stdout(data);
    return;
  }
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {}
    throw new UsageError(describeFsError(e), { input: path });
  }
}

/** Writes each file into `dir` (created with its parents), each atomically. */
export function writeFilesInto(
  dir: string,
  files: readonly { name: string; data: Uint8Array | string }[],
  stdout: (s: string | Uint8Array) => void,
): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new UsageError(describeFsError(e), { input: dir });
  }
  for (const f of files) writeOutputAtomic(join(dir, f.name), f.data, stdout);
}

export function describeFsError(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  switch (err.code) {
    case "ENOENT":
      return "no such file or directory";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EISDIR":
      return "is a directory";
    case "ENOTDIR":
      return "not a directory";
    default:
      return err.message ?? String(e);
  }
}

/**
 * The profile files a folder argument stands for, sorted (the corpus's index and log are not
 * profiles); undefined when `arg` is not a folder.
 */
export function profileFolderFiles(arg: string): string[] | undefined {
  let isDir = false;
  try {
    isDir = arg !== "-" && statSync(arg).isDirectory();
  } catch {
    isDir = false;
  }
  // A checkpoint directory is one PROFILE (the CPU it was taken on), not a folder of them.
  if (!isDir || isCheckpointDir(arg)) return undefined;
  return readdirSync(arg)
    .filter((f) => /\.(json|txt|img|cpuid)$/i.test(f) && f !== "index.json" && f !== "conversion-log.json")
    .sort()
    .map((f) => join(arg, f))
    .filter((p) => statSync(p).isFile());
}
