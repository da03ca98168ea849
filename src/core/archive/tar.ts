/**
 * Tar members, streamed (ustar, pax and GNU long names; the `modern-tar` decoder in strict mode:
 * header checksums verified). What a member's header claims is never trusted: its body is read as
 * a stream and counted, a member that ends early is a truncated archive, and names that would leave
 * the archive (absolute, `..`) are refused, as is an archive of more than `maxMembers` members.
 */
import { InvalidDataError, isSigframeError, TruncatedInputError } from "../errors.ts";
import { type ByteStream, fromWebReadable, toWebReadable, type WebReadable } from "./streams.ts";

export interface TarMember {
  /** Normalised path inside the archive (no leading `./`, no trailing `/`). */
  name: string;
  /** "file", "directory", "symlink", … as the header says. */
  type: string;
  /** The size the header claims (only a hint: the body is counted as it is read). */
  size: number;
  /** Index of the member in the archive (0-based). */
  index: number;
  /** The body; read it before asking for the next member, or it is skipped. */
  body: ByteStream;
}

export interface TarOptions {
  /** Most members accepted (a tar bomb of a million empty members is refused early). */
  maxMembers?: number;
}

/** Default member limit: a checkpoint archive has tens to a few thousand members. */
export const MAX_TAR_MEMBERS = 100_000;

interface ModernEntry {
  header: { name: string; size: number; type?: string };
  body: WebReadable<Uint8Array>;
}

/** Cleans a member name; throws for names that point outside the archive. */
export function memberName(raw: string, index: number): string {
  const bad = (why: string) =>
    new InvalidDataError(`tar member ${index} is named ${JSON.stringify(raw)}: ${why}`, {
      path: `members/${index}/name`,
    });
  if (raw.includes("\0")) throw bad("a NUL byte in the name");
  if (raw.startsWith("/")) throw bad("an absolute path");
  const parts = raw.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw bad("a '..' component (path traversal)");
  return parts.join("/");
}

/** The members of a tar stream, in archive order. */
export async function* tarMembers(src: ByteStream, opts: TarOptions = {}): AsyncGenerator<TarMember> {
  const max = opts.maxMembers ?? MAX_TAR_MEMBERS;
  const { createTarDecoder } = (await import("modern-tar")) as unknown as {
    createTarDecoder(o: { strict: boolean }): { writable: unknown; readable: WebReadable<ModernEntry> };
  };
  let index = 0;
  const entries = fromWebReadable(toWebReadable(src).pipeThrough(createTarDecoder({ strict: true })));
  try {
    for (;;) {
      let r: IteratorResult<ModernEntry>;
      try {
        r = await entries.next();
      } catch (e) {
        throw tarError(e, index);
      }
      if (r.done) break;
      const { header, body } = r.value;
      if (index >= max)
        throw new InvalidDataError(`the archive has more than ${max} members (a tar bomb?)`, {
          path: `members/${index}`,
        });
      const name = memberName(header.name, index);
      const claimed = header.size;
      if (!Number.isSafeInteger(claimed) || claimed < 0)
        throw new InvalidDataError(
          `tar member ${JSON.stringify(name)} claims an impossible size ${claimed}`,
          {
            path: `members/${index}/size`,
          },
        );
      let read = 0;
      let done = false;
      const memberIndex = index;
      const stream = (async function* () {
        try {
          for await (const c of fromWebReadable(body)) {
            read += c.length;
            yield c;
          }
        } catch (e) {
          throw tarError(e, memberIndex, name);
        }
        done = true;
        if (read < claimed)
          throw new TruncatedInputError(
            `tar member ${JSON.stringify(name)} claims ${claimed} bytes; the archive ends after ${read}`,
            { path: `members/${memberIndex}` },
          );
      })();
      yield { name, type: header.type ?? "file", size: claimed, index, body: stream };
      if (!done) {
        // Not read (or not to the end): drain it, counting, so that truncation is still seen.
        for await (const _ of stream) {
        }
      }
      index++;
    }
  } finally {
    await entries.return(undefined);
  }
}

function tarError(e: unknown, index: number, name?: string): Error {
  if (isSigframeError(e)) return e;
  const msg = e instanceof Error ? e.message : String(e);
  const where = name === undefined ? `at member ${index}` : `in member ${JSON.stringify(name)}`;
  const text = `not a readable tar archive ${where}: ${msg}`;
  return /unexpected end|truncat|premature|eof/i.test(msg)
    ? new TruncatedInputError(text, { path: `members/${index}` })
    : new InvalidDataError(text, { path: `members/${index}` });
}
