/**
 * Typed accessors for the CRIU images the rest of sigframe reads (core, mm, pstree, cpuinfo,
 * pagemap), with their generated schemas in `gen/`. Decoding itself is message.ts; the table of
 * every image type that `criu show` decodes, loaded per type, is handlers.ts.
 */
import type { DescMessage } from "@bufbuild/protobuf";
import { InvalidDataError } from "../errors.ts";
import { type core_entry, core_entrySchema } from "./gen/core_pb.ts";
import { type cpuinfo_entry, cpuinfo_entrySchema } from "./gen/cpuinfo_pb.ts";
import { type mm_entry, mm_entrySchema } from "./gen/mm_pb.ts";
import {
  type pagemap_entry,
  pagemap_entrySchema,
  type pagemap_head,
  pagemap_headSchema,
} from "./gen/pagemap_pb.ts";
import { type pstree_entry, pstree_entrySchema } from "./gen/pstree_pb.ts";
import { parseImage } from "./image.ts";
import { decodeMessage } from "./message.ts";

export { type DecodedEntry, type DecodedImage, decodeMessage, unknownFields } from "./message.ts";

// Typed accessors for the images the rest of sigframe reads.

function typed<T>(bytes: Uint8Array, input: string | undefined, magic: string, schema: DescMessage): T[] {
  const img = parseImage(bytes, input, magic);
  return img.entries.map((e, i) => decodeMessage(schema, e.payload, e.offset, `entries/${i}`, input) as T);
}

function exactlyOne<T>(list: T[], what: string, input?: string): T {
  if (list.length !== 1) {
    const where = input === undefined ? { path: "entries" } : { path: "entries", input };
    throw new InvalidDataError(`a ${what} image holds one entry; this one has ${list.length}`, where);
  }
  return list[0]!;
}

export function decodeCore(bytes: Uint8Array, input?: string): core_entry {
  return exactlyOne(typed<core_entry>(bytes, input, "CORE", core_entrySchema), "CORE", input);
}

export function decodeMm(bytes: Uint8Array, input?: string): mm_entry {
  return exactlyOne(typed<mm_entry>(bytes, input, "MM", mm_entrySchema), "MM", input);
}

export function decodePstree(bytes: Uint8Array, input?: string): pstree_entry[] {
  return typed<pstree_entry>(bytes, input, "PSTREE", pstree_entrySchema);
}

export function decodeCpuinfo(bytes: Uint8Array, input?: string): cpuinfo_entry {
  return exactlyOne(typed<cpuinfo_entry>(bytes, input, "CPUINFO", cpuinfo_entrySchema), "CPUINFO", input);
}

export function decodePagemap(
  bytes: Uint8Array,
  input?: string,
): { head: pagemap_head; entries: { entry: pagemap_entry; offset: number }[] } {
  const img = parseImage(bytes, input, "PAGEMAP");
  if (img.entries.length === 0) {
    const where =
      input === undefined
        ? { offset: img.bodyOffset, path: "entries/0" }
        : { offset: img.bodyOffset, path: "entries/0", input };
    throw new InvalidDataError("a PAGEMAP image starts with a pagemap_head entry; this one is empty", where);
  }
  const h = img.entries[0]!;
  const head = decodeMessage(pagemap_headSchema, h.payload, h.offset, "entries/0", input);
  const entries = img.entries.slice(1).map((e, i) => ({
    entry: decodeMessage(pagemap_entrySchema, e.payload, e.offset, `entries/${i + 1}`, input),
    offset: e.offset,
  }));
  return { head, entries };
}
