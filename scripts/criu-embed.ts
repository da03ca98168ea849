/**
 * Second step of `npm run gen:criu` (scripts/gen-criu.sh): turns what protoc-gen-es made of
 * proto/criu into src/core/criu/gen/.
 *
 * protoc-gen-es embeds each file's descriptor as a serialized FileDescriptorProto (`fileDesc("…")`);
 * decoding that at run time needs the schema of descriptor.proto itself, which protobuf-es builds
 * first (some hundred descriptors), and CRIU's field options (`[(criu).hex = true]`, opts.proto)
 * make every file import opts.proto and with it descriptor.proto. Loading core.proto to show one
 * core image thus built descriptor.proto, opts.proto and core.proto's seven imports.
 *
 * This step rewrites each generated module (types and exports unchanged) so that:
 * - its descriptor is a plain object that `embeddedFile` (src/core/criu/embedded-file.ts) hands to
 *   protobuf-es's registry as it is: nothing of descriptor.proto is built at run time;
 * - CRIU's field options are not in it: they are collected here into crit-options.ts, a table by
 *   message and field that the crit renderer reads (core/criu/render.ts), and opts.proto is no
 *   longer imported (nor generated: nothing needs its descriptors at run time).
 * Anything in a descriptor this step does not know how to carry (oneofs, extensions, other
 * options, …) stops it with an error rather than being dropped.
 *
 * Usage: node --import tsx scripts/criu-embed.ts PROTOC_GEN_ES_OUTPUT_DIR OUT_DIR
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  type DescExtension,
  type DescFile,
  type DescMessage,
  fromBinary,
  getExtension,
  hasExtension,
  isFieldSet,
  type Message,
  ScalarType,
} from "@bufbuild/protobuf";
import { fileDesc } from "@bufbuild/protobuf/codegenv2";
import { protoCamelCase } from "@bufbuild/protobuf/reflect";
import { base64Decode } from "@bufbuild/protobuf/wire";
import {
  type DescriptorProto,
  DescriptorProtoSchema,
  type EnumDescriptorProto,
  EnumDescriptorProtoSchema,
  type FieldDescriptorProto,
  FieldDescriptorProtoSchema,
  type FieldOptions,
  FieldOptionsSchema,
  type FileDescriptorProto,
  FileDescriptorProtoSchema,
  file_google_protobuf_descriptor,
} from "@bufbuild/protobuf/wkt";

const [from, to] = process.argv.slice(2);
if (!from || !to) throw new Error("usage: criu-embed.ts PROTOC_GEN_ES_OUTPUT_DIR OUT_DIR");

/** The options file: CRIU's extension of FieldOptions. */
const OPTS_MODULE = "opts_pb.ts";

const FILE_DESC = /fileDesc\("([A-Za-z0-9+/]+)"(?:, \[([\w, ]*)\])?\)/;

function embedded(source: string, name: string): { b64: string; imports: string[] } {
  const m = FILE_DESC.exec(source);
  if (!m) throw new Error(`${name}: no fileDesc("…") call`);
  return { b64: m[1]!, imports: m[2] ? m[2].split(", ") : [] };
}

function fail(where: string, what: string): never {
  throw new Error(`${where}: ${what} is not carried by scripts/criu-embed.ts`);
}

/** Fields of a descriptor message that are set, other than those listed. */
function unexpected(schema: DescMessage, msg: Message, carried: readonly string[]): string[] {
  return schema.fields.filter((f) => !carried.includes(f.localName) && isFieldSet(msg, f)).map((f) => f.name);
}

const optsSource = readFileSync(join(from, OPTS_MODULE), "utf8");
const optsFile: DescFile = fileDesc(embedded(optsSource, OPTS_MODULE).b64, [file_google_protobuf_descriptor]);
const criuExt = optsFile.extensions.find((e) => e.extendee.typeName === "google.protobuf.FieldOptions") as
  | DescExtension
  | undefined;
if (criuExt?.fieldKind !== "message") throw new Error(`${OPTS_MODULE}: no FieldOptions extension`);
const optsSchema = criuExt.message;

/** crit's options by message type name, then field name: only the options a field sets. */
const critOptions: Record<string, Record<string, Record<string, boolean | string>>> = {};

function fieldOptions(where: string, o: FieldOptions | undefined, field: FieldDescriptorProto, msg: string) {
  if (!o) return undefined;
  if (hasExtension(o, criuExt!)) {
    const c = getExtension(o, criuExt!) as Message & Record<string, boolean | string>;
    const set: Record<string, boolean | string> = {};
    for (const f of optsSchema.fields) if (isFieldSet(c, f)) set[f.name] = c[f.localName]!;
    critOptions[msg] ??= {};
    critOptions[msg][field.name] = set;
  }
  const extra = unexpected(FieldOptionsSchema, o, ["packed"]);
  if (extra.length) fail(where, `field option ${extra.join(", ")}`);
  const unknown = (o.$unknown ?? []).filter((u) => u.no !== criuExt!.number);
  if (unknown.length) fail(where, `field option #${unknown.map((u) => u.no).join(", #")}`);
  return isFieldSet(o, FieldOptionsSchema.field.packed) ? { packed: o.packed } : undefined;
}

function field(where: string, f: FieldDescriptorProto, msg: string): Record<string, unknown> {
  const here = `${where}.${f.name}`;
  const extra = unexpected(FieldDescriptorProtoSchema, f, [
    "name",
    "number",
    "label",
    "type",
    "typeName",
    "defaultValue",
    "jsonName",
    "options",
  ]);
  if (extra.length) fail(here, extra.join(", "));
  if (isFieldSet(f, FieldDescriptorProtoSchema.field.jsonName) && f.jsonName !== protoCamelCase(f.name))
    fail(here, `json_name ${f.jsonName}`);
  const b: Record<string, unknown> = { name: f.name, number: f.number };
  if (isFieldSet(f, FieldDescriptorProtoSchema.field.label)) b.label = f.label;
  b.type = f.type;
  if (isFieldSet(f, FieldDescriptorProtoSchema.field.typeName)) b.typeName = f.typeName;
  if (isFieldSet(f, FieldDescriptorProtoSchema.field.defaultValue)) b.defaultValue = f.defaultValue;
  const options = fieldOptions(here, f.options, f, msg);
  if (options) b.options = options;
  return b;
}

function enumType(where: string, e: EnumDescriptorProto): Record<string, unknown> {
  const here = `${where}.${e.name}`;
  const extra = unexpected(EnumDescriptorProtoSchema, e, ["name", "value"]);
  if (extra.length) fail(here, extra.join(", "));
  for (const v of e.value) if (v.options) fail(`${here}.${v.name}`, "enum value options");
  return { name: e.name, value: e.value.map((v) => ({ name: v.name, number: v.number })) };
}

function message(where: string, d: DescriptorProto, prefix: string): Record<string, unknown> {
  const typeName = prefix + d.name;
  const here = `${where}.${d.name}`;
  const extra = unexpected(DescriptorProtoSchema, d, ["name", "field", "nestedType", "enumType"]);
  if (extra.length) fail(here, extra.join(", "));
  const b: Record<string, unknown> = { name: d.name };
  if (d.field.length) b.field = d.field.map((f) => field(here, f, typeName));
  if (d.nestedType.length) b.nestedType = d.nestedType.map((n) => message(here, n, `${typeName}.`));
  if (d.enumType.length) b.enumType = d.enumType.map((e) => enumType(here, e));
  return b;
}

function fileInit(proto: FileDescriptorProto): Record<string, unknown> {
  const extra = unexpected(FileDescriptorProtoSchema, proto, [
    "name",
    "package",
    "syntax",
    "messageType",
    "enumType",
  ]);
  if (extra.length) fail(proto.name, extra.join(", "));
  if (proto.syntax !== "" && proto.syntax !== "proto2") fail(proto.name, `syntax ${proto.syntax}`);
  const b: Record<string, unknown> = { name: proto.name };
  const prefix = proto.package ? `${proto.package}.` : "";
  if (proto.package) b.package = proto.package;
  if (proto.syntax) b.syntax = proto.syntax;
  b.messageType = proto.messageType.map((d) => message(proto.name, d, prefix));
  b.enumType = proto.enumType.map((e) => enumType(proto.name, e));
  return b;
}

const HEADER =
  "// Descriptors embedded as objects, CRIU's field options moved to crit-options.ts: scripts/criu-embed.ts\n";

for (const name of readdirSync(from).sort()) {
  if (!name.endsWith("_pb.ts") || name === OPTS_MODULE) continue;
  let source = readFileSync(join(from, name), "utf8");
  const { b64, imports } = embedded(source, name);
  const proto = fromBinary(FileDescriptorProtoSchema, base64Decode(b64));
  const init = JSON.stringify(fileInit(proto));
  const kept = imports.filter((i) => i !== "file_opts");
  source = source.replace(FILE_DESC, `embeddedFile(${init}${kept.length ? `, [${kept.join(", ")}]` : ""})`);
  // The options module is no longer imported; embeddedFile replaces fileDesc.
  source = source.replace(/^import \{ file_opts \} from "\.\/opts_pb\.ts";\n/m, "");
  source = source.replace(
    /^import \{ ([^}]*) \} from "@bufbuild\/protobuf\/codegenv2";\n/m,
    (_, names: string) =>
      `import { ${names
        .split(", ")
        .filter((n) => n !== "fileDesc")
        .join(
          ", ",
        )} } from "@bufbuild/protobuf/codegenv2";\nimport { embeddedFile } from "../embedded-file.ts";\n`,
  );
  if (/\bfile_opts\b|\bfileDesc\b|opts_pb/.test(source))
    throw new Error(`${name}: opts.proto or fileDesc left over`);
  source = source.replace(/^(\/\/ @generated from file .*\n)/m, `$1${HEADER}`);
  writeFileSync(join(to, name), source);
}

const sorted = Object.fromEntries(
  Object.keys(critOptions)
    .sort()
    .map((m) => [m, critOptions[m]]),
);
writeFileSync(
  join(to, "crit-options.ts"),
  `// @generated by scripts/criu-embed.ts from the (criu) field options of proto/criu (opts.proto)
/* eslint-disable */

/** A field's \`(criu)\` options: how crit renders its value. */
export interface CritFieldOptions {
${optsSchema.fields.map((f) => `  ${f.name}?: ${f.scalar === ScalarType.BOOL ? "boolean" : "string"};`).join("\n")}
}

/** The options of every field that has any, by message type name and field name. */
export const CRIT_OPTIONS: Readonly<Record<string, Readonly<Record<string, CritFieldOptions>>>> = {
${Object.entries(sorted)
  .map(
    ([m, fields]) =>
      `  ${m}: {\n${Object.entries(fields!)
        .map(([f, o]) => `    ${f}: ${JSON.stringify(o)},`)
        .join("\n")}\n  },`,
  )
  .join("\n")}
};
`,
);
