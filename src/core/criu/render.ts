/**
 * `crit decode --pretty` in TypeScript: the same dictionary (fields in field-number order, only
 * fields present in the payload, enums by name, CRIU's `(criu).hex/flags/dict/dev/ipadd` hints
 * applied, hex inherited by the fields of a message marked hex, bytes as MIME base64) and the
 * same JSON text (4-space indent, ASCII only, integers exact).
 */
import { type DescField, type DescMessage, type Message, ScalarType } from "@bufbuild/protobuf";
import type { Compression } from "../archive/compression.ts";
import type { ContainerInfo } from "../archive/container.ts";
import type { ArchiveListing, ArchiveMemberInfo } from "../archive/members.ts";
import { CRIT_OPTIONS, type CritFieldOptions } from "./gen/crit-options.ts";
import type { DecodedImage } from "./message.ts";

/** A crit value: integers are bigint (printed exact, never rounded through a double). */
export type CritValue = string | boolean | bigint | CritValue[] | { [k: string]: CritValue };

type FlagMap = readonly (readonly [string, number])[];

const FLAG_MAPS: Readonly<Record<string, FlagMap>> = {
  "mmap.prot": [
    ["PROT_READ", 0x1],
    ["PROT_WRITE", 0x2],
    ["PROT_EXEC", 0x4],
  ],
  "mmap.flags": [
    ["MAP_SHARED", 0x1],
    ["MAP_PRIVATE", 0x2],
    ["MAP_DROPPABLE", 0x08],
    ["MAP_ANON", 0x20],
    ["MAP_GROWSDOWN", 0x0100],
  ],
  "mmap.status": [
    ["VMA_AREA_NONE", 0],
    ["VMA_AREA_REGULAR", 1 << 0],
    ["VMA_AREA_STACK", 1 << 1],
    ["VMA_AREA_VSYSCALL", 1 << 2],
    ["VMA_AREA_VDSO", 1 << 3],
    ["VMA_AREA_HEAP", 1 << 5],
    ["VMA_FILE_PRIVATE", 1 << 6],
    ["VMA_FILE_SHARED", 1 << 7],
    ["VMA_ANON_SHARED", 1 << 8],
    ["VMA_ANON_PRIVATE", 1 << 9],
    ["VMA_AREA_SYSVIPC", 1 << 10],
    ["VMA_AREA_SOCKET", 1 << 11],
    ["VMA_AREA_VVAR", 1 << 12],
    ["VMA_AREA_AIORING", 1 << 13],
    ["VMA_AREA_MEMFD", 1 << 14],
    ["VMA_AREA_SHSTK", 1 << 15],
    ["VMA_AREA_UPROBES", 1 << 17],
    ["VMA_UNSUPP", 2 ** 31],
  ],
  "rfile.flags": [
    ["O_WRONLY", 0o1],
    ["O_RDWR", 0o2],
    ["O_CREAT", 0o100],
    ["O_EXCL", 0o200],
    ["O_NOCTTY", 0o400],
    ["O_TRUNC", 0o1000],
    ["O_APPEND", 0o2000],
    ["O_NONBLOCK", 0o4000],
    ["O_DSYNC", 0o10000],
    ["FASYNC", 0o20000],
    ["O_DIRECT", 0o40000],
    ["O_LARGEFILE", 0o100000],
    ["O_DIRECTORY", 0o200000],
    ["O_NOFOLLOW", 0o400000],
    ["O_NOATIME", 0o1000000],
    ["O_CLOEXEC", 0o2000000],
  ],
  "pmap.flags": [
    ["PE_PARENT", 1 << 0],
    ["PE_LAZY", 1 << 1],
    ["PE_PRESENT", 1 << 2],
  ],
  "seals.flags": [
    ["F_SEAL_SEAL", 0x1],
    ["F_SEAL_SHRINK", 0x2],
    ["F_SEAL_GROW", 0x4],
    ["F_SEAL_WRITE", 0x8],
    ["F_SEAL_FUTURE_WRITE", 0x10],
  ],
};

const DICT_MAPS: Readonly<Record<string, Readonly<Record<string, Readonly<Record<number, string>>>>>> = {
  gen: { task_state: { 1: "Alive", 3: "Zombie", 6: "Stopped" } },
  sk: {
    family: { 1: "UNIX", 2: "INET", 10: "INET6", 16: "NETLINK", 17: "PACKET" },
    type: { 1: "STREAM", 2: "DGRAM", 3: "RAW", 5: "SEQPACKET", 10: "PACKET" },
    state: {
      1: "ESTABLISHED",
      2: "SYN_SENT",
      3: "SYN_RECV",
      4: "FIN_WAIT1",
      5: "FIN_WAIT2",
      6: "TIME_WAIT",
      7: "CLOSE",
      8: "CLOSE_WAIT",
      9: "LAST_ACK",
      10: "LISTEN",
    },
    proto: { 0: "IP", 6: "TCP", 17: "UDP", 136: "UDPLITE" },
  },
};

/** crit's map_flags: names of known bits joined by " | ", leftover bits as one hex term. */
export function mapFlags(value: bigint, map: FlagMap): string {
  const names: string[] = [];
  let known = 0n;
  for (const [name, bitv] of map) {
    const b = BigInt(bitv);
    if (value & b) names.push(name);
    known += b;
  }
  const rest = value & ~known;
  if (rest) names.push(`0x${rest.toString(16)}`);
  return names.join(" | ");
}

const NO_OPTIONS: CritFieldOptions = {};

/** The `(criu)` options of a field (proto/criu, collected by scripts/criu-embed.ts). */
function opts(field: DescField): CritFieldOptions {
  return CRIT_OPTIONS[field.parent.typeName]?.[field.name] ?? NO_OPTIONS;
}

function isIntType(t: ScalarType): boolean {
  return (
    t !== ScalarType.BOOL &&
    t !== ScalarType.STRING &&
    t !== ScalarType.BYTES &&
    t !== ScalarType.DOUBLE &&
    t !== ScalarType.FLOAT
  );
}

function castScalar(field: DescField, t: ScalarType, v: unknown, isHex: boolean): CritValue {
  if (t === ScalarType.BOOL) return Boolean(v);
  if (t === ScalarType.STRING) return String(v);
  if (t === ScalarType.BYTES) return base64Mime(v as Uint8Array);
  if (!isIntType(t)) return String(v);
  const n = typeof v === "bigint" ? v : BigInt(v as number);
  const o = opts(field);
  if (isHex || o.hex) return `0x${(n < 0n ? n : n).toString(16).replace(/^-/, "-")}`;
  if (o.dev) {
    if (o.odev) {
      // glibc major()/minor() of an old-format dev_t.
      const major = ((n >> 8n) & 0xfffn) | ((n >> 32n) & ~0xfffn);
      const minor = (n & 0xffn) | ((n >> 12n) & ~0xffn);
      return `${major}:${minor}`;
    }
    return `${n >> 20n}:${n & ((1n << 20n) - 1n)}`;
  }
  if (o.flags) {
    const map = FLAG_MAPS[o.flags];
    return map ? mapFlags(n, map) : `0x${n.toString(16)}`;
  }
  if (o.dict) {
    const name = DICT_MAPS[o.dict]?.[field.name]?.[Number(n)];
    return name ?? n;
  }
  return n;
}

function enumName(field: DescField, v: number): CritValue {
  const e =
    field.fieldKind === "enum"
      ? field.enum
      : field.fieldKind === "list" && field.listKind === "enum"
        ? field.enum
        : undefined;
  const name = e?.values.find((x) => x.number === v)?.name;
  return name ?? BigInt(v);
}

function ip(values: number[]): string {
  const ntohl = (x: number) =>
    (((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) >>> 0;
  if (values.length === 1) {
    const v = ntohl(values[0]!);
    return [v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff].join(".");
  }
  const groups: number[] = [];
  for (let i = 0; i < 4; i++) {
    const w = ntohl(values[i] ?? 0);
    groups.push(w >>> 16, w & 0xffff);
  }
  // RFC 5952 compression: the longest run (>= 2) of zero groups becomes "::".
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hexs = groups.map((g) => g.toString(16));
  if (best < 0) return hexs.join(":");
  return `${hexs.slice(0, best).join(":")}::${hexs.slice(best + bestLen).join(":")}`;
}

/** crit's pb2dict(pretty=True) of one message. */
export function critDict(schema: DescMessage, msg: Message, isHex = false): { [k: string]: CritValue } {
  const out: { [k: string]: CritValue } = {};
  const rec = msg as unknown as Record<string, unknown>;
  const fields = [...schema.fields].sort((a, b) => a.number - b.number);
  for (const f of fields) {
    const v = rec[f.localName];
    const hex = isHex || opts(f).hex === true;
    if (f.fieldKind === "list") {
      const list = v as unknown[];
      if (list.length === 0) continue;
      if (f.listKind === "scalar" && opts(f).ipadd) {
        out[f.name] = [ip(list as number[])];
        continue;
      }
      out[f.name] = list.map((x) =>
        f.listKind === "message"
          ? critDict(f.message, x as Message, hex)
          : f.listKind === "enum"
            ? enumName(f, x as number)
            : castScalar(f, f.scalar, x, hex),
      );
      continue;
    }
    if (f.fieldKind === "map") continue;
    if (!Object.hasOwn(rec, f.localName)) continue;
    if (f.fieldKind === "message") out[f.name] = critDict(f.message, v as Message, hex);
    else if (f.fieldKind === "enum") out[f.name] = enumName(f, v as number);
    else out[f.name] = castScalar(f, f.scalar, v, hex);
  }
  return out;
}

/** `{ magic, entries }` as `crit decode --pretty` builds it. */
/** A crit value as JSON: integers are exact JSON numbers (`critJson`), not strings. */
export type CritJsonValue = string | boolean | number | CritJsonValue[] | { [k: string]: CritJsonValue };

/** `criu show --json`: the document `crit decode --pretty` gives. */
export interface CritImageJson {
  magic: string;
  entries: CritJsonValue[];
}

export function critImage(img: DecodedImage): { magic: string; entries: CritValue[] } {
  return { magic: img.magic, entries: img.entries.map((e) => critDict(e.schema, e.message)) };
}

/** Python's `json.dumps(value, indent=4)` (ensure_ascii), with exact integers. */
export function critJson(value: CritValue, indent = 4): string {
  const pad = (n: number) => " ".repeat(n * indent);
  const walk = (v: CritValue, depth: number): string => {
    if (typeof v === "bigint") return v.toString();
    if (typeof v === "boolean") return v ? "true" : "false";
    if (typeof v === "string") return pyString(v);
    if (Array.isArray(v)) {
      if (v.length === 0) return "[]";
      return `[\n${v.map((x) => pad(depth + 1) + walk(x, depth + 1)).join(",\n")}\n${pad(depth)}]`;
    }
    const keys = Object.keys(v);
    if (keys.length === 0) return "{}";
    return `{\n${keys.map((k) => `${pad(depth + 1)}${pyString(k)}: ${walk(v[k]!, depth + 1)}`).join(",\n")}\n${pad(depth)}}`;
  };
  return walk(value, 0);
}

function pyString(s: string): string {
  return JSON.stringify(s).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Python's base64.encodebytes: MIME base64, a newline after every 76 characters and at the end. */
export function base64Mime(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 3) {
    const n = (b[i]! << 16) | ((b[i + 1] ?? 0) << 8) | (b[i + 2] ?? 0);
    s += B64[(n >> 18) & 63]! + B64[(n >> 12) & 63]!;
    s += i + 1 < b.length ? B64[(n >> 6) & 63]! : "=";
    s += i + 2 < b.length ? B64[n & 63]! : "=";
  }
  let out = "";
  for (let i = 0; i < s.length; i += 76) out += `${s.slice(i, i + 76)}\n`;
  return out;
}

/** `criu show CHECKPOINT --json`: the checkpoint, its containers and every member. */
export interface CheckpointListingJson {
  checkpoint: { path: string; compression: Compression | "none" };
  /** Each container's folder ("" at the top) and what its metadata says. */
  containers: ({ prefix: string } & ContainerInfo)[];
  members: ArchiveMemberInfo[];
}

export function listingJson(path: string, l: ArchiveListing): CheckpointListingJson {
  return {
    checkpoint: { path, compression: l.compression },
    containers: l.containers.map((c) => ({ prefix: c.prefix, ...c.container })),
    members: l.members,
  };
}
