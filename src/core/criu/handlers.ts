/**
 * The handler table: the payload schema of each image type sigframe decodes (as crit's handlers
 * table), each loaded when an image of its type is decoded. protobuf-es builds a generated file's
 * descriptors (and those of the files it imports) when its module loads, so decoding a pstree.img
 * loads pstree.proto alone, a core-N.img core.proto and its imports, never the whole set.
 */
import type { DescMessage } from "@bufbuild/protobuf";
import { UsageError } from "../errors.ts";
import { type CriuImage, parseImage } from "./image.ts";
import { type DecodedEntry, type DecodedImage, decodeMessage } from "./message.ts";

/** The schema of an image type's entries; `head`: of its first entry, where that differs (PAGEMAP). */
export interface ImageSchemas {
  entry: DescMessage;
  head?: DescMessage;
}

const entry = (schema: DescMessage): ImageSchemas => ({ entry: schema });

const HANDLERS: Readonly<Record<string, () => Promise<ImageSchemas>>> = {
  INVENTORY: async () => entry((await import("./gen/inventory_pb.ts")).inventory_entrySchema),
  CORE: async () => entry((await import("./gen/core_pb.ts")).core_entrySchema),
  IDS: async () => entry((await import("./gen/core_pb.ts")).task_kobj_ids_entrySchema),
  CREDS: async () => entry((await import("./gen/creds_pb.ts")).creds_entrySchema),
  PSTREE: async () => entry((await import("./gen/pstree_pb.ts")).pstree_entrySchema),
  MM: async () => entry((await import("./gen/mm_pb.ts")).mm_entrySchema),
  PAGEMAP: async () => {
    const m = await import("./gen/pagemap_pb.ts");
    return { entry: m.pagemap_entrySchema, head: m.pagemap_headSchema };
  },
  CPUINFO: async () => entry((await import("./gen/cpuinfo_pb.ts")).cpuinfo_entrySchema),
  FS: async () => entry((await import("./gen/misc_pb.ts")).fs_entrySchema),
  STATS: async () => entry((await import("./gen/misc_pb.ts")).stats_entrySchema),
  TIMENS: async () => entry((await import("./gen/misc_pb.ts")).timens_entrySchema),
  SECCOMP: async () => entry((await import("./gen/misc_pb.ts")).seccomp_entrySchema),
  FILES: async () => entry((await import("./gen/fdinfo_pb.ts")).file_entrySchema),
  FDINFO: async () => entry((await import("./gen/fdinfo_pb.ts")).fdinfo_entrySchema),
  REG_FILES: async () => entry((await import("./gen/fdinfo_pb.ts")).reg_file_entrySchema),
  VMAS: async () => entry((await import("./gen/vma_pb.ts")).vma_entrySchema),
  SIGACT: async () => entry((await import("./gen/sa_pb.ts")).sa_entrySchema),
  RLIMIT: async () => entry((await import("./gen/rlimit_pb.ts")).rlimit_entrySchema),
  ITIMERS: async () => entry((await import("./gen/timer_pb.ts")).itimer_entrySchema),
  POSIX_TIMERS: async () => entry((await import("./gen/timer_pb.ts")).posix_timer_entrySchema),
};

export const SUPPORTED_IMAGE_TYPES: readonly string[] = Object.keys(HANDLERS);

/** The schemas of an image type (its generated module loaded now), or undefined for a type not decoded. */
export function imageSchemas(magic: string): Promise<ImageSchemas> | undefined {
  return Object.hasOwn(HANDLERS, magic) ? HANDLERS[magic]!() : undefined;
}

/** Decodes every entry of a framed image. Unsupported types are a UsageError naming the type. */
export async function decodeImage(bytes: Uint8Array, input?: string): Promise<DecodedImage> {
  return decodeParsed(parseImage(bytes, input), input);
}

export async function decodeParsed(img: CriuImage, input?: string): Promise<DecodedImage> {
  const load = imageSchemas(img.magic);
  if (!load) {
    const where = input === undefined ? { offset: 4 } : { offset: 4, input };
    throw new UsageError(
      `${img.magic} images are not decoded by sigframe (supported: ${SUPPORTED_IMAGE_TYPES.join(", ")})`,
      where,
    );
  }
  const schemas = await load;
  const entries: DecodedEntry[] = img.entries.map((e, i) => {
    const schema = i === 0 && schemas.head ? schemas.head : schemas.entry;
    return {
      offset: e.offset,
      schema,
      message: decodeMessage(schema, e.payload, e.offset, `entries/${i}`, input),
    };
  });
  return { magic: img.magic, entries };
}
