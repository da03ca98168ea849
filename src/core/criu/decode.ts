/**
 * Protobuf decoding of CRIU image entries with the generated schemas in `gen/`. Every entry is
 * decoded strictly: a malformed payload or a missing required field (CRIU's protobuf-c refuses
 * those too) is an InvalidDataError at the entry's offset and field path. Fields that the schemas
 * here do not describe are kept by protobuf-es as unknown fields and reported by `unknownFields`.
 */
import { type DescMessage, fromBinary, type Message, type MessageShape } from "@bufbuild/protobuf";
import { FeatureSet_FieldPresence } from "@bufbuild/protobuf/wkt";
import { InvalidDataError, UsageError } from "../errors.ts";
import { type core_entry, core_entrySchema, task_kobj_ids_entrySchema } from "./gen/core_pb.ts";
import { type cpuinfo_entry, cpuinfo_entrySchema } from "./gen/cpuinfo_pb.ts";
import { creds_entrySchema } from "./gen/creds_pb.ts";
import { fdinfo_entrySchema, file_entrySchema, reg_file_entrySchema } from "./gen/fdinfo_pb.ts";
import { inventory_entrySchema } from "./gen/inventory_pb.ts";
import { fs_entrySchema, seccomp_entrySchema, stats_entrySchema, timens_entrySchema } from "./gen/misc_pb.ts";
import { type mm_entry, mm_entrySchema } from "./gen/mm_pb.ts";
import {
  type pagemap_entry,
  pagemap_entrySchema,
  type pagemap_head,
  pagemap_headSchema,
} from "./gen/pagemap_pb.ts";
import { type pstree_entry, pstree_entrySchema } from "./gen/pstree_pb.ts";
import { rlimit_entrySchema } from "./gen/rlimit_pb.ts";
import { sa_entrySchema } from "./gen/sa_pb.ts";
import { itimer_entrySchema, posix_timer_entrySchema } from "./gen/timer_pb.ts";
import { vma_entrySchema } from "./gen/vma_pb.ts";
import { type CriuImage, parseImage } from "./image.ts";

/** The payload schema of each supported image type (as crit's handlers table). */
const SCHEMAS: Readonly<Record<string, DescMessage>> = {
  INVENTORY: inventory_entrySchema,
  CORE: core_entrySchema,
  IDS: task_kobj_ids_entrySchema,
  CREDS: creds_entrySchema,
  PSTREE: pstree_entrySchema,
  MM: mm_entrySchema,
  PAGEMAP: pagemap_entrySchema,
  CPUINFO: cpuinfo_entrySchema,
  FS: fs_entrySchema,
  STATS: stats_entrySchema,
  TIMENS: timens_entrySchema,
  SECCOMP: seccomp_entrySchema,
  FILES: file_entrySchema,
  FDINFO: fdinfo_entrySchema,
  REG_FILES: reg_file_entrySchema,
  VMAS: vma_entrySchema,
  SIGACT: sa_entrySchema,
  RLIMIT: rlimit_entrySchema,
  ITIMERS: itimer_entrySchema,
  POSIX_TIMERS: posix_timer_entrySchema,
};

export const SUPPORTED_IMAGE_TYPES: readonly string[] = Object.keys(SCHEMAS);

/** Schema of entry `index` of an image of type `magic` (pagemap's first entry is its head). */
export function entrySchema(magic: string, index: number): DescMessage | undefined {
  if (magic === "PAGEMAP" && index === 0) return pagemap_headSchema;
  return SCHEMAS[magic];
}

export interface DecodedEntry {
  offset: number;
  schema: DescMessage;
  message: Message;
}

export interface DecodedImage {
  magic: string;
  entries: DecodedEntry[];
}

/** Decodes one protobuf payload; errors carry `offset` and `path`. */
export function decodeMessage<D extends DescMessage>(
  schema: D,
  payload: Uint8Array,
  offset: number,
  path: string,
  input?: string,
): MessageShape<D> {
  const loc = (p: string) => (input === undefined ? { offset, path: p } : { offset, path: p, input });
  let msg: MessageShape<D>;
  try {
    msg = fromBinary(schema, payload, { readUnknownFields: true });
  } catch (e) {
    const why = e instanceof RangeError ? "nesting too deep" : ((e as Error)?.message ?? String(e));
    throw new InvalidDataError(`not a valid ${schema.name} protobuf message: ${why}`, loc(path));
  }
  const missing = missingRequired(schema, msg as Message, path);
  if (missing) {
    throw new InvalidDataError(
      `${schema.name}: required field ${missing.split("/").pop()} is missing`,
      loc(missing),
    );
  }
  return msg;
}

/** First missing required field (as a path), recursively; undefined when complete. */
function missingRequired(schema: DescMessage, msg: Message, path: string): string | undefined {
  const rec = msg as unknown as Record<string, unknown>;
  for (const f of schema.fields) {
    const here = `${path}/${f.name}`;
    const v = rec[f.localName];
    if (f.fieldKind === "list") {
      if (f.listKind === "message") {
        const list = v as Message[];
        for (let i = 0; i < list.length; i++) {
          const m = missingRequired(f.message, list[i]!, `${here}/${i}`);
          if (m) return m;
        }
      }
      continue;
    }
    if (f.fieldKind === "map") continue;
    const set = Object.hasOwn(rec, f.localName);
    if (f.presence === FeatureSet_FieldPresence.LEGACY_REQUIRED && !set) return here;
    if (f.fieldKind === "message" && set && v !== undefined) {
      const m = missingRequired(f.message, v as Message, here);
      if (m) return m;
    }
  }
  return undefined;
}

/** Decodes every entry of a framed image. Unsupported types are a UsageError naming the type. */
export function decodeImage(bytes: Uint8Array, input?: string): DecodedImage {
  const img = parseImage(bytes, input);
  return decodeParsed(img, input);
}

export function decodeParsed(img: CriuImage, input?: string): DecodedImage {
  if (!SCHEMAS[img.magic]) {
    const where = input === undefined ? { offset: 4 } : { offset: 4, input };
    throw new UsageError(
      `${img.magic} images are not decoded by sigframe (supported: ${SUPPORTED_IMAGE_TYPES.join(", ")})`,
      where,
    );
  }
  const entries: DecodedEntry[] = img.entries.map((e, i) => {
    const schema = entrySchema(img.magic, i)!;
    return {
      offset: e.offset,
      schema,
      message: decodeMessage(schema, e.payload, e.offset, `entries/${i}`, input),
    };
  });
  return { magic: img.magic, entries };
}

/** Field numbers present in the payload that the schema does not describe, with their paths. */
export function unknownFields(schema: DescMessage, msg: Message, path = ""): string[] {
  const out: string[] = [];
  const rec = msg as unknown as Record<string, unknown> & { $unknown?: { no: number }[] };
  for (const u of rec.$unknown ?? []) out.push(`${path}${path ? "/" : ""}#${u.no}`);
  for (const f of schema.fields) {
    const v = rec[f.localName];
    const here = `${path}${path ? "/" : ""}${f.name}`;
    if (f.fieldKind === "message" && v !== undefined)
      out.push(...unknownFields(f.message, v as Message, here));
    if (f.fieldKind === "list" && f.listKind === "message") {
      (v as Message[]).forEach((m, i) => {
        out.push(...unknownFields(f.message, m, `${here}/${i}`));
      });
    }
  }
  return out;
}

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
