/**
 * Protobuf decoding of one CRIU image entry, without any schema of its own: the payload schemas
 * come from the caller (handlers.ts for `criu show`, decode.ts's typed accessors). Every entry is
 * decoded strictly: a malformed payload or a missing required field (CRIU's protobuf-c refuses
 * those too) is an InvalidDataError at the entry's offset and field path. Fields that the schemas
 * do not describe are kept by protobuf-es as unknown fields and reported by `unknownFields`.
 */
import { type DescMessage, fromBinary, type Message, type MessageShape } from "@bufbuild/protobuf";
import type { FeatureSet_FieldPresence } from "@bufbuild/protobuf/wkt";
import { InvalidDataError } from "../errors.ts";

/**
 * A proto2 `required` field's presence. The value, not an import: importing descriptor.proto's
 * enums loads all of them (some hundred) into every command that decodes an image.
 */
const LEGACY_REQUIRED: FeatureSet_FieldPresence.LEGACY_REQUIRED = 3;

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
    if (f.presence === LEGACY_REQUIRED && !set) return here;
    if (f.fieldKind === "message" && set && v !== undefined) {
      const m = missingRequired(f.message, v as Message, here);
      if (m) return m;
    }
  }
  return undefined;
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
