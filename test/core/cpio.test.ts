import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { abiTestInitramfs, cpioNewc } from "../../src/core/cpio.ts";

/** Walks a newc archive: [name, mode, size, rdevmajor, rdevminor, data] per entry, checking the padding. */
function walk(a: Uint8Array): [string, number, number, number, number, Uint8Array][] {
  const out: [string, number, number, number, number, Uint8Array][] = [];
  const text = (o: number, n: number) => Buffer.from(a.subarray(o, o + n)).toString("latin1");
  let o = 0;
  for (;;) {
    assert.equal(o % 4, 0, "every header starts on a 4-byte boundary");
    assert.equal(text(o, 6), "070701");
    const f = (i: number) => Number.parseInt(text(o + 6 + i * 8, 8), 16);
    const namesize = f(11);
    const size = f(6);
    const name = text(o + 110, namesize - 1);
    assert.equal(a[o + 110 + namesize - 1], 0, "names end with NUL");
    let d = o + 110 + namesize;
    d += (4 - (d % 4)) % 4;
    out.push([name, f(1), size, f(9), f(10), a.subarray(d, d + size)]);
    o = d + size + ((4 - (size % 4)) % 4);
    if (name === "TRAILER!!!") break;
  }
  assert.equal(o, a.length, "nothing after the trailer");
  return out;
}

test("cpioNewc: headers, names and data padded to 4 bytes, the trailer last", () => {
  const data = new Uint8Array([1, 2, 3, 4, 5]);
  const a = cpioNewc([
    { kind: "dir", name: "dev" },
    { kind: "char", name: "dev/console", major: 5, minor: 1 },
    { kind: "file", name: "init", data, mode: 0o755 },
  ]);
  const e = walk(a);
  assert.deepEqual(
    e.map(([n, m, s, ma, mi]) => [n, m.toString(8), s, ma, mi]),
    [
      ["dev", "40755", 0, 0, 0],
      ["dev/console", "20600", 0, 5, 1],
      ["init", "100755", 5, 0, 0],
      ["TRAILER!!!", "0", 0, 0, 0],
    ],
  );
  assert.deepEqual([...e[2]![5]], [1, 2, 3, 4, 5]);
  assert.throws(() => cpioNewc([{ kind: "dir", name: "dé" }]), /non-ASCII/);
});

test("abiTestInitramfs: /init is the helper, byte for byte; Debian's cpio reads it", (t) => {
  const helper = new Uint8Array(4099).map((_, i) => (i * 7) & 0xff);
  const a = abiTestInitramfs(helper);
  const init = walk(a).find(([n]) => n === "init")!;
  assert.deepEqual(init[5], helper);
  const r = spawnSync("cpio", ["-itv", "--quiet"], { input: a, encoding: "latin1" });
  if (r.error) {
    t.skip("Debian's cpio is not installed");
    return;
  }
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  assert.deepEqual(
    lines.map((l) => l.split(/\s+/).pop()),
    ["dev", "dev/console", "init"],
  );
  assert.match(lines[1]!, /^crw-------/);
  assert.match(lines[2]!, /^-rwxr-xr-x .* 4099 /);
});
