/**
 * Opens a CRIU checkpoint directory: small images are read whole (with a size cap), pages files
 * are opened for random access and never loaded. Errors name the file inside the directory.
 */
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { type Checkpoint, type CheckpointFiles, loadCheckpoint } from "../core/criu/checkpoint.ts";
import { isSigframeError, UsageError } from "../core/errors.ts";
import type { ByteSource } from "../core/source.ts";
import { type FileByteSource, openFileSource } from "./byte-source.ts";
import { readInput } from "./files.ts";

/** Cap for one protobuf image file (pages files are not read whole and have no cap). */
const MAX_IMAGE_FILE = 64 * 1024 * 1024;

interface OpenCheckpoint extends Checkpoint {
  dir: string;
  /** Closes the pages files. */
  close(): void;
}

export function openCheckpoint(dir: string): OpenCheckpoint {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(dir);
  } catch {
    throw new UsageError("no such file or directory", { input: dir });
  }
  if (!st.isDirectory())
    throw new UsageError("not a directory (a CRIU checkpoint is a directory of images)", { input: dir });
  const open: FileByteSource[] = [];
  const files: CheckpointFiles = {
    has: (name) => existsSync(join(dir, name)),
    bytes: (name) => readInput(join(dir, name), MAX_IMAGE_FILE).bytes,
    source: (name): ByteSource => {
      const s = openFileSource(join(dir, name));
      open.push(s);
      return s;
    },
  };
  const close = () => {
    for (const s of open.splice(0)) s.close();
  };
  try {
    const cp = loadCheckpoint(files);
    return { ...cp, dir, close };
  } catch (e) {
    close();
    if (isSigframeError(e) && e.input !== undefined && !e.input.startsWith(dir)) e.input = join(dir, e.input);
    throw e;
  }
}
