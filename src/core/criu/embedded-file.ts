/**
 * The descriptors of a generated CRIU schema module (src/core/criu/gen/, scripts/criu-embed.ts),
 * built from the plain object embedded in it. protoc-gen-es's own `fileDesc` decodes a serialized
 * FileDescriptorProto, which needs protobuf-es to build descriptor.proto's schema first; here the
 * embedded object becomes the FileDescriptorProto message the registry reads, field by field, as
 * protobuf-es boots descriptor.proto itself (@bufbuild/protobuf codegenv2/boot.ts): fields that
 * are not in the object read as descriptor.proto's defaults (from a prototype shared by every
 * descriptor of a kind, so that they all have the same few shapes), lists are empty. So loading a
 * schema builds its own file and its imports only.
 */
import { createFileRegistry, type DescFile } from "@bufbuild/protobuf";
import { protoCamelCase } from "@bufbuild/protobuf/reflect";
import type {
  DescriptorProto,
  EnumDescriptorProto,
  FieldDescriptorProto,
  FieldOptions,
  FileDescriptorProto,
} from "@bufbuild/protobuf/wkt";

/** A field as scripts/criu-embed.ts embeds it: what protoc set (its JSON name is the default one). */
export interface EmbeddedField {
  name: string;
  number: number;
  label?: number;
  type: number;
  typeName?: string;
  defaultValue?: string;
  options?: { packed?: boolean };
}

export interface EmbeddedEnum {
  name: string;
  value: { name: string; number: number }[];
}

export interface EmbeddedMessage {
  name: string;
  field?: EmbeddedField[];
  nestedType?: EmbeddedMessage[];
  enumType?: EmbeddedEnum[];
}

export interface EmbeddedFileInit {
  name: string;
  package?: string;
  syntax?: string;
  messageType: EmbeddedMessage[];
  enumType: EmbeddedEnum[];
}

// descriptor.proto's defaults of the fields a CRIU descriptor may leave out. Not frozen: an own
// property of the same name is assigned over them.
const FILE_DEFAULTS = { package: "", syntax: "", edition: 0 };
const MESSAGE_DEFAULTS = { visibility: 0 };
const FIELD_DEFAULTS = {
  label: 1,
  typeName: "",
  extendee: "",
  defaultValue: "",
  oneofIndex: 0,
  jsonName: "",
  proto3Optional: false,
};
const FIELD_OPTIONS_DEFAULTS = {
  ctype: 0,
  packed: false,
  jstype: 0,
  lazy: false,
  unverifiedLazy: false,
  deprecated: false,
  weak: false,
  debugRedact: false,
  retention: 0,
};
const ENUM_DEFAULTS = { visibility: 0 };

type Obj = Record<string, unknown>;

function fieldOptions(init: { packed?: boolean }): FieldOptions {
  const o = Object.create(FIELD_OPTIONS_DEFAULTS) as Obj;
  o.$typeName = "google.protobuf.FieldOptions";
  if (init.packed !== undefined) o.packed = init.packed;
  o.targets = [];
  o.editionDefaults = [];
  o.uninterpretedOption = [];
  return o as unknown as FieldOptions;
}

function field(init: EmbeddedField): FieldDescriptorProto {
  const f = Object.create(FIELD_DEFAULTS) as Obj;
  f.$typeName = "google.protobuf.FieldDescriptorProto";
  f.name = init.name;
  f.number = init.number;
  if (init.label !== undefined) f.label = init.label;
  f.type = init.type;
  if (init.typeName !== undefined) f.typeName = init.typeName;
  if (init.defaultValue !== undefined) f.defaultValue = init.defaultValue;
  f.jsonName = protoCamelCase(init.name);
  f.options = init.options ? fieldOptions(init.options) : undefined;
  return f as unknown as FieldDescriptorProto;
}

function enumType(init: EmbeddedEnum): EnumDescriptorProto {
  const e = Object.create(ENUM_DEFAULTS) as Obj;
  e.$typeName = "google.protobuf.EnumDescriptorProto";
  e.name = init.name;
  e.value = init.value.map((v) => ({
    $typeName: "google.protobuf.EnumValueDescriptorProto",
    name: v.name,
    number: v.number,
  }));
  e.reservedRange = [];
  e.reservedName = [];
  return e as unknown as EnumDescriptorProto;
}

function message(init: EmbeddedMessage): DescriptorProto {
  const m = Object.create(MESSAGE_DEFAULTS) as Obj;
  m.$typeName = "google.protobuf.DescriptorProto";
  m.name = init.name;
  m.field = init.field?.map(field) ?? [];
  m.extension = [];
  m.nestedType = init.nestedType?.map(message) ?? [];
  m.enumType = init.enumType?.map(enumType) ?? [];
  m.extensionRange = [];
  m.oneofDecl = [];
  m.reservedRange = [];
  m.reservedName = [];
  return m as unknown as DescriptorProto;
}

/** The file (as `fileDesc` gives it) of an embedded descriptor whose imports are `imports`. */
export function embeddedFile(init: EmbeddedFileInit, imports: DescFile[] = []): DescFile {
  const f = Object.create(FILE_DEFAULTS) as Obj;
  f.$typeName = "google.protobuf.FileDescriptorProto";
  f.name = init.name;
  if (init.package !== undefined) f.package = init.package;
  if (init.syntax !== undefined) f.syntax = init.syntax;
  f.dependency = imports.map((d) => d.proto.name);
  f.publicDependency = [];
  f.weakDependency = [];
  f.optionDependency = [];
  f.messageType = init.messageType.map(message);
  f.enumType = init.enumType.map(enumType);
  f.service = [];
  f.extension = [];
  const root = f as unknown as FileDescriptorProto;
  const reg = createFileRegistry(root, (name) => imports.find((d) => d.proto.name === name));
  return reg.getFile(root.name)!;
}
