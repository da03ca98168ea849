/** `sigframe criu show`, run in-process. */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { memoryIo } from "../../src/cli/context.ts";
import { run } from "../../src/cli/main.ts";
import { CRIT_DIR, CRIU_DIR, truth } from "../core/criu/fixtures.ts";
import { sigframe } from "../helpers/cli.ts";
import { needs } from "../helpers/shared.ts";

const show = (...args: string[]) => sigframe(["criu", "show", ...args]);

const scratch = mkdtempSync(join(tmpdir(), "sigframe-criu-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe("sigframe criu show", needs(CRIU_DIR, "CRIU fixtures"), () => {
  const t = truth("S5");
  const dir = join(CRIU_DIR, "S5");

  test("--json is crit-4.2's decode, byte for byte", async () => {
    for (const [img, ref] of [
      [`core-${t.tids[1]}.img`, `core-${t.tids[1]}.json`],
      [`pagemap-${t.pid}.img`, "pagemap.json"],
      ["cpuinfo.img", "cpuinfo.json"],
    ]) {
      const r = await show(join(dir, img!), "--json");
      assert.equal(r.code, 0);
      assert.equal(r.err, "");
      assert.equal(r.out, readFileSync(join(CRIT_DIR, "S5", "crit-4.2", ref!), "utf8"));
    }
  });

  test("human output: registers, xsave, handlers of a thread", async () => {
    const th = t.threads[1];
    const r = await show(join(dir, `core-${th.tid}.img`));
    assert.equal(r.code, 0);
    assert.match(r.out, /^CORE image, 1 entry/);
    assert.match(r.out, new RegExp(`bx\\s+${t.contexts[th.live_context].gpr.rbx}`));
    assert.match(r.out, /xstate_bv\s+0xe7 \(x87 SSE YMM OPMASK ZMM_Hi256 Hi16_ZMM\)/);
    assert.match(r.out, /zmm registers \(memory order\), non-zero: 32 of 32/);
    assert.ok(r.out.includes(`zmm0   ${t.contexts[th.live_context].zmm[0]}`));
    assert.match(r.out, /blocked\s+0x200 \(10\)/);
    const lead = await show(join(dir, `core-${t.pid}.img`));
    assert.match(lead.out, /\n\s+10\s+0x[0-9a-f]+\s+0x4000004/);
  });

  test("human output: mm, pagemap, pstree, cpuinfo", async () => {
    const mm = await show(join(dir, `mm-${t.pid}.img`));
    assert.match(mm.out, /vmas\s+28/);
    const pm = await show(join(dir, `pagemap-${t.pid}.img`));
    assert.match(pm.out, /pages in file\s+41 \(167936 bytes\)/);
    const ps = await show(join(dir, "pstree.img"));
    assert.match(ps.out, new RegExp(`${t.pid}\\s+0\\s+${t.pid}\\s+${t.pid}\\s+${t.tids.join(" ")}`));
    const ci = await show(join(dir, "cpuinfo.img"));
    assert.match(ci.out, /xfeatures_mask\s+0xe5 .*bit 1 cleared/);
  });

  test("bad input: one line on stderr, exit 2, nothing on stdout", async () => {
    const core = readFileSync(join(dir, `core-${t.pid}.img`));
    const cases: [string, Uint8Array, RegExp][] = [
      [
        "truncated.img",
        core.subarray(0, core.length - 100),
        /truncated\.img: 0xc:entries\/0: entry 0 needs \d+ bytes/,
      ],
      ["garbage.img", new Uint8Array(64).fill(0x41), /not a CRIU image: magic 0x41414141/],
      [
        "huge.img",
        Uint8Array.from([...core.subarray(0, 8), 0xff, 0xff, 0xff, 0x7f, 1, 2, 3]),
        /claims 2147483647 bytes; the limit/,
      ],
      ["empty.img", new Uint8Array(0), /4-byte magic/],
      [
        "corrupt.img",
        Uint8Array.from([...core.subarray(0, 12), 0xff, 0xff, ...core.subarray(14)]),
        /not a valid core_entry/,
      ],
    ];
    for (const [name, bytes, re] of cases) {
      const p = join(scratch, name);
      writeFileSync(p, bytes);
      for (const args of [[p], [p, "--json"]]) {
        const r = await show(...args);
        assert.equal(r.code, 2, `${name}: ${r.err}`);
        assert.equal(r.out, "");
        assert.equal(r.err.split("\n").length, 2, r.err);
        assert.match(r.err, /^sigframe: /);
        assert.match(r.err, re);
      }
    }
    const pages = await show(join(dir, "pages-1.img"));
    assert.equal(pages.code, 2);
    assert.match(pages.err, /raw memory, not images/);
    const missing = await show(join(scratch, "nope.img"));
    assert.equal(missing.code, 2);
    assert.match(missing.err, /no such file/);
  });
});

describe("CRIU cpuinfo.img as a PROFILE argument", needs(CRIU_DIR, "CRIU fixtures"), () => {
  test("layout accepts it", async () => {
    const io = memoryIo();
    const code = await run(["layout", join(CRIU_DIR, "S1", "cpuinfo.img"), "--json"], io);
    assert.equal(code, 0, io.err);
    const doc = JSON.parse(io.out);
    assert.equal(doc.xcr0, "0xe7");
    assert.equal(doc.userSize, 2432);
  });
});
