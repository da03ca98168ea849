/**
 * The descriptors of a generated CRIU schema module (src/core/criu/gen/, scripts/criu-embed.ts),
 * built from the plain object embedded in it. protoc-gen-es's own `fileDesc` decodes a serialized
 * FileDescriptorProto, which needs protobuf-es to build descriptor.proto's schema first; the
 * embedded object is already in the shape the registry reads (the shape protobuf-es itself embeds
 * descriptor.proto in), so loading a schema builds its own file and its imports only.
 */
import { createFileRegistry, type DescFile } from "@bufbuild/protobuf";
import { bootFileDescriptorProto, type FileDescriptorProtoBoot } from "@bufbuild/protobuf/codegenv2";
import { protoCamelCase } from "@bufbuild/protobuf/reflect";
import type { DescriptorProto } from "@bufbuild/protobuf/wkt";

/** What scripts/criu-embed.ts embeds: descriptor.proto's boot object for any proto2 file. */
export type EmbeddedFileInit = Omit<FileDescriptorProtoBoot, "name" | "package"> & {
  name: string;
  package?: string;
  syntax?: string;
};

/** JSON names that are the fields' camel-case names are left out of the embedded object. */
function restoreJsonNames(d: DescriptorProto): void {
  for (const f of d.field) if (!Object.hasOwn(f, "jsonName")) f.jsonName = protoCamelCase(f.name);
  d.nestedType.forEach(restoreJsonNames);
}

/** The file (as `fileDesc` gives it) of an embedded descriptor whose imports are `imports`. */
export function embeddedFile(init: EmbeddedFileInit, imports: DescFile[] = []): DescFile {
  // CRIU's files have no package: descriptor.proto's boot object always names one.
  const root = bootFileDescriptorProto({ package: "", ...init } as FileDescriptorProtoBoot);
  root.messageType.forEach(restoreJsonNames);
  root.dependency = imports.map((f) => f.proto.name);
  const reg = createFileRegistry(root, (name) => imports.find((f) => f.proto.name === name));
  return reg.getFile(root.name)!;
}
