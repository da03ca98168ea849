import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { sf } from "../helpers/cli.ts";
import { CORPUS, needs } from "../helpers/shared.ts";

const local = join(CORPUS, "local-this-machine.json");
const icx = join(CORPUS, "intel-xeon-platinum-8351n-cpu-2-40ghz.json");

test(
  "layout --json has the contract's fields and this machine's frame size",
  needs(CORPUS, "cpuid corpus"),
  async () => {
    const r = await sf("layout", local, "--kernel", "6.18", "--json");
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    for (const k of ["profile", "xcr0", "userSize", "maxSize", "frame", "components"]) assert.ok(k in j, k);
    for (const k of ["name", "vendor", "family", "model", "stepping"]) assert.ok(k in j.profile, k);
    assert.equal(j.xcr0, "0xe7");
    assert.equal(j.userSize, 2432);
    assert.deepEqual(j.frame, { xstateSize: 2432, extendedSize: 2436 });
    const names = j.components
      .filter((c: { enabled: boolean }) => c.enabled)
      .map((c: { name: string }) => c.name);
    assert.deepEqual(names, ["x87", "SSE", "YMM", "OPMASK", "ZMM_Hi256", "Hi16_ZMM"]);
    for (const c of j.components) {
      for (const k of [
        "bit",
        "name",
        "size",
        "offset",
        "compactedOffset",
        "supervisor",
        "align64",
        "xfd",
        "enabled",
      ]) {
        assert.ok(k in c, `${c.name}.${k}`);
      }
    }
  },
);

test(
  "layout --save-profile writes a profile that reads back to the same layout",
  needs(CORPUS, "cpuid corpus"),
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "sigframe-"));
    const out = join(dir, "p.json");
    const a = await sf("layout", icx, "--json", "--save-profile", out);
    assert.equal(a.code, 0, a.err);
    assert.equal(JSON.parse(readFileSync(out, "utf8")).format, "sigframe-profile/1");
    const b = await sf("layout", out, "--json");
    const ja = JSON.parse(a.out);
    const jb = JSON.parse(b.out);
    assert.deepEqual(jb.components, ja.components);
    assert.equal(jb.userSize, 2696);
  },
);

test(
  "diff: AMD Zen 5 vs Ice Lake-SP puts AVX-512 and the frame size apart",
  needs(CORPUS, "cpuid corpus"),
  async () => {
    const r = await sf("diff", local, icx, "--json");
    assert.equal(r.code, 0, r.err);
    const d = JSON.parse(r.out);
    const by = Object.fromEntries(d.components.map((c: { name: string; status: string }) => [c.name, c]));
    assert.equal(by.YMM.status, "same");
    assert.equal(by.OPMASK.status, "different-offset");
    assert.deepEqual(by.OPMASK.a, { offset: 832, size: 64 });
    assert.deepEqual(by.OPMASK.b, { offset: 1088, size: 64 });
    assert.equal(by.ZMM_Hi256.status, "different-offset");
    assert.equal(by.Hi16_ZMM.status, "different-offset");
    assert.equal(by.PKRU.status, "only-b");
    assert.equal(d.identical, false);
    assert.deepEqual([d.a.userSize, d.b.userSize], [2432, 2696]);
    const same = await sf("diff", icx, icx, "--json");
    assert.equal(JSON.parse(same.out).identical, true);
    const human = await sf("diff", local, icx);
    assert.match(human.out, /OPMASK\s+832\+64\s+1088\+64\s+different-offset/);
    const svg = await sf("diff", local, icx, "--svg");
    assert.match(svg.out, /^<svg /);
    assert.match(svg.out, /OPMASK@832/);
    assert.match(svg.out, /OPMASK@1088/);
  },
);

test("bad input: one line on stderr, exit 2, nothing on stdout, no partial file", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sigframe-"));
  const cases: [string, RegExp][] = [];
  writeFileSync(join(dir, "empty"), "");
  cases.push([join(dir, "empty"), /empty input/]);
  writeFileSync(join(dir, "rand"), Buffer.from([0x7f, 0x00, 0x13, 0x99, 0x00, 0x01]));
  cases.push([join(dir, "rand"), /binary data/]);
  writeFileSync(
    join(dir, "bad.txt"),
    "CPU 0:\n   0x00000000 0x00: eax=0x1 ebx=0x2 ecx=0x3 edx=0x4\n   what\n",
  );
  cases.push([join(dir, "bad.txt"), /bad\.txt: 3: not a 'cpuid -r' line/]);
  writeFileSync(join(dir, "schema.json"), JSON.stringify({ format: "sigframe-profile/1", name: "x" }));
  cases.push([join(dir, "schema.json"), /schema\.json: vendor: /]);
  cases.push(["intel-icelake-servr", /no such profile file or built-in profile/]);
  cases.push([join(dir, "missing.json"), /no such file or directory/]);
  for (const [arg, re] of cases) {
    const out = join(dir, "never.json");
    const r = await sf("layout", arg, "--save-profile", out);
    assert.equal(r.code, 2, `${arg}: ${r.err}`);
    assert.equal(r.out, "");
    assert.equal(r.err.split("\n").filter(Boolean).length, 1, r.err);
    assert.match(r.err, /^sigframe: /);
    assert.match(r.err, re);
    assert.equal(existsSync(out), false);
  }
  const u = await sf("layout", "x", "--kernel", "banana");
  assert.equal(u.code, 2);
  assert.match(u.err, /--kernel: not a kernel version/);
  const o = await sf("layout", "--frobnicate");
  assert.equal(o.code, 2);
  assert.match(o.err, /^sigframe: layout: unknown option '--frobnicate'/);
});

test("help is on stdout with exit 0", async () => {
  const r = await sf("layout", "--help");
  assert.equal(r.code, 0);
  assert.match(r.out, /Usage: sigframe layout/);
  const h = await sf("help", "diff");
  assert.equal(h.code, 0);
  assert.match(h.out, /Usage: sigframe diff/);
});

test("layout --xcr0: an impossible value is exit 2 naming the rule; a forced one is said to be forced", async () => {
  for (const [x, re] of [
    ["0x1", /--xcr0: 0x1 lacks bit 1 \(SSE\)/],
    ["0x8000000000000007", /--xcr0: 0x8000000000000007 sets bit 63/],
  ] as const) {
    const r = await sf("layout", "intel-haswell", "--xcr0", x);
    assert.equal(r.code, 2, x);
    assert.equal(r.out, "");
    assert.match(r.err, re);
  }
  const f = await sf("layout", "intel-icelake-server", "--kernel", "4.2", "--xcr0", "0x2e7");
  assert.equal(f.code, 0, f.err);
  assert.match(f.out, /^XCR0 0xe7 \(--xcr0 0x2e7 under Linux 4\.2; dropped PKRU\)/m);
  assert.match(f.out, /warning: --xcr0 bit 9 \(PKRU\) dropped: Linux 4\.2 predates PKRU support/);
  const j = JSON.parse((await sf("layout", "intel-haswell", "--xcr0", "0x3", "--json")).out);
  assert.equal(j.xcr0, "0x3");
  assert.equal(j.xcr0Source, "forced");
  assert.equal(j.xcr0Requested, "0x3");
});

test("diff --fail-on-difference exits 1 when the layouts differ, 0 when identical; help lists every exit code", async () => {
  const differ = await sf("diff", "amd-zen5", "intel-icelake-server", "--fail-on-difference");
  assert.equal(differ.code, 1, differ.err);
  assert.match(differ.out, /different-offset/);
  const same = await sf("diff", "amd-zen4", "amd-zen5", "--fail-on-difference", "--json");
  assert.equal(same.code, 0, same.err);
  assert.equal(JSON.parse(same.out).identical, true);
  assert.equal((await sf("diff", "amd-zen5", "intel-icelake-server")).code, 0, "without the flag: 0");
  const help = await sf("diff", "--help");
  assert.match(
    help.out.replace(/\s+/g, " "),
    /Exit codes: .*--fail-on-difference: 0 identical layouts, 1 they differ/,
  );
});

test("every command's help lists its exit codes; check's include 2 and 4", async () => {
  const flat = (t: string) => t.replace(/\s+/g, " ");
  const check = await sf("check", "--help");
  assert.match(
    flat(check.out),
    /Exit codes: 0 compatible, 1 warnings only, 3 incompatible, 2 bad input or usage, 4 /,
  );
  for (const cmd of [
    "profiles",
    "layout",
    "diff",
    "inspect",
    "build",
    "predict",
    "host",
    "probe",
    "check",
    "baseline",
    "matrix",
    "policy-diff",
    "scan",
    "criu",
    "translate",
    "serve",
  ]) {
    const r = await sf(cmd, "--help");
    assert.equal(r.code, 0, cmd);
    assert.match(flat(r.out), /Exit codes: 0 /, cmd);
  }
});
