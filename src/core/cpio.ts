/**
 * The cpio "newc" format the kernel unpacks as an initramfs (Documentation/driver-api/early-userspace/
 * buffer-format.rst, usr/gen_init_cpio.c): per entry a 110-byte ASCII header ("070701" and 13
 * eight-digit hex fields), the NUL-terminated name padded to 4 bytes, the data padded to 4 bytes;
 * the archive ends with the entry "TRAILER!!!". Written, never read: only what abi-test needs.
 */

export type CpioEntry =
  | { kind: "dir"; name: string; mode?: number }
  | { kind: "file"; name: string; data: Uint8Array; mode?: number }
  | { kind: "char"; name: string; major: number; minor: number; mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFCHR = 0o020000;

const pad4 = (n: number) => (4 - (n % 4)) % 4;

/** ASCII text as bytes (names and headers are ASCII; core has no TextEncoder). */
function ascii(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) throw new RangeError(`cpio: non-ASCII name ${JSON.stringify(s)}`);
    out[i] = c;
  }
  return out;
}

function header(fields: number[]): string {
  return `070701${fields.map((f) => (f >>> 0).toString(16).padStart(8, "0")).join("")}`;
}

/** The archive: the entries in order (parents before children), then the trailer; mtime 0, owner root. */
export function cpioNewc(entries: readonly CpioEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  let total = 0;
  const push = (b: Uint8Array) => {
    parts.push(b);
    total += b.length;
  };
  const all: CpioEntry[] = [
    ...entries,
    { kind: "file", name: "TRAILER!!!", data: new Uint8Array(0), mode: 0 },
  ];
  all.forEach((e, i) => {
    const data = e.kind === "file" ? e.data : new Uint8Array(0);
    const type = e.kind === "dir" ? S_IFDIR : e.kind === "char" ? S_IFCHR : S_IFREG;
    const perm = e.mode ?? (e.kind === "dir" ? 0o755 : e.kind === "char" ? 0o600 : 0o644);
    const trailer = e.name === "TRAILER!!!";
    const name = ascii(`${e.name}\0`);
    const h = header([
      trailer ? 0 : i + 1, // ino
      trailer ? 0 : type | perm, // mode
      0, // uid
      0, // gid
      e.kind === "dir" ? 2 : 1, // nlink
      0, // mtime
      data.length, // filesize
      0, // devmajor
      0, // devminor
      e.kind === "char" ? e.major : 0, // rdevmajor
      e.kind === "char" ? e.minor : 0, // rdevminor
      name.length, // namesize, NUL included
      0, // check
    ]);
    push(ascii(h));
    push(name);
    push(new Uint8Array(pad4(110 + name.length)));
    push(data);
    push(new Uint8Array(pad4(data.length)));
  });
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * abi-test's initramfs: the static helper as /init (it runs as the agent when the kernel starts it
 * as PID 1, native/init.c) and /dev/console for the kernel to open as init's stdio.
 */
export function abiTestInitramfs(staticHelper: Uint8Array): Uint8Array {
  return cpioNewc([
    { kind: "dir", name: "dev" },
    { kind: "char", name: "dev/console", major: 5, minor: 1 },
    { kind: "file", name: "init", data: staticHelper, mode: 0o755 },
  ]);
}
