/**
 * CRIU image framing (criu/include/magic.h, images v1.1):
 *
 * - `inventory.img`: u32 INVENTORY magic, then entries;
 * - every other protobuf image: u32 IMG_COMMON (or IMG_SERVICE for `stats-dump`/`irmap-cache`),
 *   then u32 type magic, then entries;
 * - entry: u32 little-endian payload size, the protobuf payload, and for a few types an extra blob
 *   whose size the payload gives (not needed for the types decoded here);
 * - raw images (`pages-*.img`) have no header at all.
 *
 * Everything here works on untrusted bytes: a size is checked against the bytes present before
 * anything is sliced, and entry size and count are capped.
 */
import { InvalidDataError, TruncatedInputError } from "../errors.ts";

export const IMG_COMMON_MAGIC = 0x54564319;
export const IMG_SERVICE_MAGIC = 0x55105940;
export const INVENTORY_MAGIC = 0x58313116;

/** Type magics by crit's name for them (the `"magic"` of `crit decode`). */
export const IMAGE_MAGICS: Readonly<Record<string, number>> = {
  INVENTORY: INVENTORY_MAGIC,
  PSTREE: 0x50273030,
  FDINFO: 0x56213732,
  PAGEMAP: 0x56084025,
  CORE: 0x55053847,
  IDS: 0x54432030,
  VMAS: 0x54123737,
  PIPES: 0x56513555,
  PIPES_DATA: 0x56453709,
  FIFO: 0x58364939,
  FIFO_DATA: 0x59333054,
  SIGACT: 0x55344201,
  UNIXSK: 0x54373943,
  INETSK: 0x56443851,
  PACKETSK: 0x60454618,
  ITIMERS: 0x57464056,
  POSIX_TIMERS: 0x52603957,
  SK_QUEUES: 0x56264026,
  UTSNS: 0x54473203,
  CREDS: 0x54023547,
  IPC_VAR: 0x53115007,
  IPCNS_SHM: 0x46283044,
  IPCNS_MSG: 0x55453737,
  IPCNS_SEM: 0x59573019,
  REG_FILES: 0x50363636,
  EXT_FILES: 0x59255641,
  FS: 0x51403912,
  MM: 0x57492820,
  REMAP_FPATH: 0x59133954,
  GHOST_FILE: 0x52583605,
  TCP_STREAM: 0x51465506,
  EVENTFD_FILE: 0x44523722,
  EVENTPOLL_FILE: 0x45023858,
  EVENTPOLL_TFD: 0x44433746,
  SIGNALFD: 0x57323820,
  INOTIFY_FILE: 0x48424431,
  INOTIFY_WD: 0x54562009,
  MNTS: 0x55563928,
  NETDEV: 0x57373951,
  NETNS: 0x55933752,
  TTY_FILES: 0x59433025,
  TTY_INFO: 0x59453036,
  TTY_DATA: 0x59413026,
  FILE_LOCKS: 0x54323616,
  RLIMIT: 0x57113925,
  FANOTIFY_FILE: 0x55096122,
  FANOTIFY_MARK: 0x56506035,
  SIGNAL: 0x59255647,
  NETLINK_SK: 0x58005614,
  NS_FILES: 0x61394011,
  TUNFILE: 0x57143751,
  CGROUP: 0x59383330,
  TIMERFD: 0x50493712,
  CPUINFO: 0x61404013,
  USERNS: 0x55474906,
  SECCOMP: 0x64413049,
  BINFMT_MISC: 0x67343323,
  AUTOFS: 0x49353943,
  FILES: 0x56303138,
  MEMFD_INODE: 0x48453499,
  TIMENS: 0x43114433,
  PIDNS: 0x61157326,
  BPFMAP_FILE: 0x57506142,
  BPFMAP_DATA: 0x64324033,
  APPARMOR: 0x59423047,
  PIDFD: 0x54435556,
  STATS: 0x57093306,
  IRMAP_CACHE: 0x57004059,
};

const NAME_BY_MAGIC = new Map<number, string>(Object.entries(IMAGE_MAGICS).map(([k, v]) => [v, k]));
/** NS_FILES and CPUINFO are both "Nyandoma" in magic.h but have different values; no clash. */

/** Largest protobuf entry accepted (CRIU's own entries are kilobytes; mm of a huge process a few MiB). */
export const MAX_ENTRY_SIZE = 64 * 1024 * 1024;
/** Most entries accepted in one image. */
export const MAX_ENTRIES = 1 << 20;

/**
 * Image types CRIU writes as one entry (pb_write_one) and reads back with pb_read_one or
 * pb_read_one_eof (criu/image.c, cr-restore.c, mem.c, pstree.c, files.c, timens.c, seccomp.c,
 * arch/x86/cpu.c, stats.c): a second entry is not something CRIU produces.
 */
export const SINGLE_ENTRY_IMAGES: ReadonlySet<string> = new Set([
  "INVENTORY",
  "CORE",
  "MM",
  "IDS",
  "CREDS",
  "CPUINFO",
  "FS",
  "TIMENS",
  "SECCOMP",
  "STATS",
]);

export interface ImageEntry {
  /** Byte offset of the entry's payload in the image. */
  offset: number;
  /** The protobuf payload (a view into the image bytes, not a copy). */
  payload: Uint8Array;
}

export interface CriuImage {
  /** crit's name of the type magic ("CORE", "PAGEMAP"…). */
  magic: string;
  /** The type magic value. */
  typeMagic: number;
  /** IMG_COMMON, IMG_SERVICE, or undefined for the inventory's single magic. */
  headMagic?: number;
  /** Offset of the first entry. */
  bodyOffset: number;
  entries: ImageEntry[];
}

function hex32(v: number): string {
  return `0x${(v >>> 0).toString(16).padStart(8, "0")}`;
}

/** Reads the magic header: the crit name, type magic and where the entries start. */
export function readImageHeader(
  bytes: Uint8Array,
  input?: string,
): { magic: string; typeMagic: number; headMagic?: number; bodyOffset: number } {
  const where = (offset: number, path: string) =>
    input === undefined ? { offset, path } : { offset, path, input };
  if (bytes.length < 4) {
    throw new TruncatedInputError(
      `a CRIU image starts with a 4-byte magic; the input has ${bytes.length} bytes`,
      where(0, "magic"),
    );
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const first = dv.getUint32(0, true);
  if (first === INVENTORY_MAGIC) return { magic: "INVENTORY", typeMagic: first, bodyOffset: 4 };
  if (first === IMG_COMMON_MAGIC || first === IMG_SERVICE_MAGIC) {
    if (bytes.length < 8) {
      throw new TruncatedInputError(
        `the image header needs 8 bytes (common magic + type magic); the input has ${bytes.length}`,
        where(4, "type_magic"),
      );
    }
    const second = dv.getUint32(4, true);
    const name = NAME_BY_MAGIC.get(second);
    if (name === undefined || name === "INVENTORY") {
      throw new InvalidDataError(
        `unknown CRIU image type magic ${hex32(second)} after ${hex32(first)}`,
        where(4, "type_magic"),
      );
    }
    return { magic: name, typeMagic: second, headMagic: first, bodyOffset: 8 };
  }
  throw new InvalidDataError(
    `not a CRIU image: magic ${hex32(first)} is neither IMG_COMMON ${hex32(IMG_COMMON_MAGIC)}, IMG_SERVICE ${hex32(IMG_SERVICE_MAGIC)} nor INVENTORY ${hex32(INVENTORY_MAGIC)} (pages-*.img files are raw memory, not images)`,
    where(0, "magic"),
  );
}

/** True when the bytes start like a CRIU protobuf image (cheap sniff for format detection). */
export function looksLikeCriuImage(bytes: Uint8Array, typeMagic?: number): boolean {
  if (bytes.length < 8) return false;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const first = dv.getUint32(0, true);
  if (first === INVENTORY_MAGIC) return typeMagic === undefined || typeMagic === INVENTORY_MAGIC;
  if (first !== IMG_COMMON_MAGIC && first !== IMG_SERVICE_MAGIC) return false;
  const second = dv.getUint32(4, true);
  return typeMagic === undefined ? NAME_BY_MAGIC.has(second) : second === typeMagic;
}

/**
 * Splits an image into its length-prefixed entries. `expect` names the image type the caller
 * needs (e.g. "CORE"): another type is an InvalidDataError naming both.
 */
export function parseImage(bytes: Uint8Array, input?: string, expect?: string): CriuImage {
  const head = readImageHeader(bytes, input);
  const loc = (offset: number, path: string) =>
    input === undefined ? { offset, path } : { offset, path, input };
  if (expect !== undefined && head.magic !== expect) {
    throw new InvalidDataError(
      `expected a ${expect} image, found ${head.magic}`,
      loc(head.bodyOffset - 4, "type_magic"),
    );
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const entries: ImageEntry[] = [];
  let off = head.bodyOffset;
  const single = SINGLE_ENTRY_IMAGES.has(head.magic);
  while (off < bytes.length) {
    const i = entries.length;
    if (i >= MAX_ENTRIES) {
      throw new InvalidDataError(`more than ${MAX_ENTRIES} entries in one image`, loc(off, `entries/${i}`));
    }
    if (single && i >= 1) {
      throw new InvalidDataError(
        `a ${head.magic} image holds one entry (CRIU writes it once); a second one starts here`,
        loc(off, `entries/${i}`),
      );
    }
    if (bytes.length - off < 4) {
      throw new TruncatedInputError(
        `input ends at ${bytes.length} bytes inside the 4-byte size of entry ${i}`,
        loc(off, `entries/${i}/size`),
      );
    }
    const size = dv.getUint32(off, true);
    if (size > MAX_ENTRY_SIZE) {
      throw new InvalidDataError(
        `entry ${i} claims ${size} bytes; the limit is ${MAX_ENTRY_SIZE} (a corrupt size field?)`,
        loc(off, `entries/${i}/size`),
      );
    }
    const start = off + 4;
    if (size > bytes.length - start) {
      throw new TruncatedInputError(
        `entry ${i} needs ${size} bytes at offset ${start}; the input ends at ${bytes.length}`,
        loc(start, `entries/${i}`),
      );
    }
    entries.push({ offset: start, payload: bytes.subarray(start, start + size) });
    off = start + size;
  }
  const out: CriuImage = {
    magic: head.magic,
    typeMagic: head.typeMagic,
    bodyOffset: head.bodyOffset,
    entries,
  };
  if (head.headMagic !== undefined) out.headMagic = head.headMagic;
  return out;
}
