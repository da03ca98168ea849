/**
 * The generated CRIU schema modules (src/core/criu/gen/, scripts/criu-embed.ts) describe exactly
 * what protoc makes of proto/criu: every message, field and enum as protobuf-es builds it from
 * protoc's own descriptors, and crit's rendering options (the `(criu)` field options) as a table.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  createFileRegistry,
  type DescEnum,
  type DescField,
  type DescFile,
  type DescMessage,
  fromBinary,
  getExtension,
  hasExtension,
  isFieldSet,
  type Message,
} from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { CRIT_OPTIONS } from "../../../src/core/criu/gen/crit-options.ts";
import { REPO_ROOT } from "../../helpers/shared.ts";

const protoDir = join(REPO_ROOT, "proto", "criu");
const protoc = spawnSync("protoc", ["--version"], { encoding: "utf8" });

/** protoc's descriptor set of proto/criu, or why there is none. */
function protocSet(): Uint8Array | string {
  if (protoc.error || protoc.status !== 0)
    return "protoc is not installed (Debian package protobuf-compiler; CI installs it)";
  const dir = mkdtempSync(join(tmpdir(), "sigframe-desc-"));
  try {
    const out = join(dir, "criu.pb");
    const protos = readdirSync(protoDir).filter((f) => f.endsWith(".proto"));
    const r = spawnSync(
      "protoc",
      [`--proto_path=${protoDir}`, "--include_imports", `--descriptor_set_out=${out}`, ...protos],
      { cwd: protoDir, encoding: "utf8" },
    );
    if (r.status !== 0 && /google\/protobuf\/descriptor\.proto: File not found/.test(r.stderr))
      return "protoc cannot find google/protobuf/descriptor.proto (Debian package libprotobuf-dev; CI installs it)";
    assert.equal(r.status, 0, r.stderr);
    return readFileSync(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const set = protocSet();
const skip = typeof set === "string" ? set : undefined;

/** protoc's descriptors of proto/criu (with descriptor.proto for opts.proto's extension). */
function protocRegistry() {
  assert.ok(typeof set !== "string");
  return createFileRegistry(fromBinary(FileDescriptorSetSchema, set));
}

function fieldShape(f: DescField) {
  return {
    name: f.name,
    number: f.number,
    localName: f.localName,
    jsonName: f.jsonName,
    fieldKind: f.fieldKind,
    listKind: f.fieldKind === "list" ? f.listKind : undefined,
    scalar: f.scalar,
    type: f.message?.typeName ?? f.enum?.typeName,
    presence: f.presence,
    packed: f.fieldKind === "list" ? f.packed : undefined,
    default: f.fieldKind === "scalar" || f.fieldKind === "enum" ? String(f.getDefaultValue()) : undefined,
  };
}

function enumShape(e: DescEnum) {
  return { typeName: e.typeName, open: e.open, values: e.values.map((v) => [v.name, v.number]) };
}

interface MessageShape {
  typeName: string;
  fields: ReturnType<typeof fieldShape>[];
  nested: MessageShape[];
  enums: ReturnType<typeof enumShape>[];
}

function messageShape(m: DescMessage): MessageShape {
  return {
    typeName: m.typeName,
    fields: m.fields.map(fieldShape),
    nested: m.nestedMessages.map(messageShape),
    enums: m.nestedEnums.map(enumShape),
  };
}

function fileShape(f: DescFile) {
  return {
    name: f.name,
    edition: f.edition,
    imports: f.dependencies.map((d) => d.name).filter((d) => d !== "opts"),
    messages: f.messages.map(messageShape),
    enums: f.enums.map(enumShape),
  };
}

test(
  "each generated CRIU schema module describes what protoc makes of its .proto file",
  skip ? { skip } : {},
  async () => {
    const reg = protocRegistry();
    const gen = join(REPO_ROOT, "src", "core", "criu", "gen");
    const modules = readdirSync(gen).filter((f) => f.endsWith("_pb.ts"));
    assert.ok(modules.length >= 10);
    for (const m of modules) {
      const exports = (await import(join(gen, m))) as Record<string, unknown>;
      const file = Object.values(exports).find(
        (v) => (v as DescFile | undefined)?.kind === "file",
      ) as DescFile;
      const expected = reg.getFile(file.proto.name);
      assert.ok(expected, `${m}: protoc has no ${file.proto.name}`);
      assert.deepEqual(fileShape(file), fileShape(expected), m);
    }
  },
);

test("crit's rendering options are every (criu) field option of proto/criu", skip ? { skip } : {}, () => {
  const reg = protocRegistry();
  const ext = reg.getExtension("criu");
  assert.ok(ext && ext.fieldKind === "message");
  const found: Record<string, Record<string, Record<string, unknown>>> = {};
  const walk = (msg: DescMessage) => {
    for (const f of msg.fields) {
      const o = f.proto.options;
      if (!o || !hasExtension(o, ext)) continue;
      const c = getExtension(o, ext) as Message & Record<string, unknown>;
      const set: Record<string, unknown> = {};
      for (const of of ext.message.fields) if (isFieldSet(c, of)) set[of.name] = c[of.localName];
      found[msg.typeName] ??= {};
      found[msg.typeName][f.name] = set;
    }
    msg.nestedMessages.forEach(walk);
  };
  for (const file of reg.files) if (!file.name.startsWith("google/")) file.messages.forEach(walk);
  assert.ok(Object.keys(found).length >= 5);
  assert.deepEqual(CRIT_OPTIONS, found);
});
