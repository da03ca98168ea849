import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { glibcSaveAreas } from "../../../src/core/compat/glibc.ts";
import { checkCompat, type Finding } from "../../../src/core/compat/index.ts";
import { BUILTIN_PROFILES } from "../../../src/core/profiles/builtins.ts";
import {
  altstackDelivery,
  maxFrameStackBytes,
  minSigStkSz,
  permissionAltstackMinimum,
  sigaltstackMinimum,
} from "../../../src/core/sigframe/stack.ts";
import { predict } from "../../../src/core/sigreturn/index.ts";
import { computeLayout } from "../../../src/core/xsave/layout.ts";

const layout = (name: string, amx = false) =>
  computeLayout(BUILTIN_PROFILES.find((b) => b.name === name)!.build(), amx ? { amx } : {});
const check = (a: string, b: string, extra: Partial<Parameters<typeof checkCompat>[0]> = {}) =>
  checkCompat({ from: layout(a), to: layout(b), predict, policies: ["classic"], ...extra });
const find = (fs: Finding[], code: string) => fs.filter((f) => f.code === code);

describe("glibc's lazy-binding XSAVE area", () => {
  test("the areas as glibc sizes them: XSAVEC compacted over STATE_SAVE_MASK, XSAVE = CPUID(0xD,0).EBX", () => {
    const zen4 = layout("amd-zen4");
    const spr = layout("intel-sapphirerapids");
    const [c, x] = glibcSaveAreas(zen4, spr);
    assert.equal(c!.trampoline, "xsavec");
    assert.ok(c!.isDefault && !x!.isDefault);
    // Compacted: legacy + header, YMM, opmask, ZMM_Hi256, Hi16_ZMM, nothing else of the mask on Zen 4.
    assert.equal(c!.reserved, 576 + 256 + 64 + 512 + 1024);
    assert.equal(c!.written, c!.reserved);
    // XSAVE: EBX for Zen 4's XCR0 (PKRU last, 2440) rounded to 64; SPR writes up to Hi16_ZMM's end.
    assert.equal(x!.reserved, Math.ceil(zen4.maxUserSize / 64) * 64);
    assert.equal(x!.written, 1664 + 1024);
    // A CPU without XSAVEC has only the XSAVE trampoline; with AMX in XCR0, EBX includes tile data.
    const hsw = glibcSaveAreas(layout("intel-haswell"), spr);
    assert.deepEqual(
      hsw.map((a) => a.trampoline),
      ["xsave"],
    );
    assert.ok(hsw[0]!.isDefault);
    const fromSpr = glibcSaveAreas(spr, zen4).find((a) => a.trampoline === "xsave")!;
    assert.ok(fromSpr.reserved >= spr.maxUserSize && spr.maxUserSize > spr.userSize);
  });

  test("a warning whenever the destination writes more than the area: zen4 → sapphirerapids, haswell → icelake", () => {
    for (const [a, b] of [
      ["amd-zen4", "intel-sapphirerapids"],
      ["intel-haswell", "intel-icelake-server"],
      ["amd-zen3", "amd-zen4"],
    ] as const) {
      const f = find(check(a, b).findings, "glibc_xsave_size");
      assert.equal(f.length, 1, `${a} → ${b}`);
      assert.equal(f[0]!.severity, "warning");
      assert.ok(f[0]!.to!.size! > f[0]!.from!.size!);
      assert.match(f[0]!.message, /lazily bound/);
      assert.match(f[0]!.hint!, /LD_BIND_NOW=1/);
      assert.match(f[0]!.hint!, /-z now/);
    }
    // Smaller or equal on the destination: nothing to say.
    for (const [a, b] of [
      ["intel-icelake-server", "amd-zen5"],
      ["intel-sapphirerapids", "amd-zen4"],
      ["amd-zen5", "amd-zen5"],
    ] as const)
      assert.equal(find(check(a, b).findings, "glibc_xsave_size").length, 0, `${a} → ${b}`);
  });
});

describe("sigaltstacks after migration", () => {
  test("the check reports both hosts' frame sizes and AT_MINSIGSTKSZ", () => {
    const r = check("amd-zen4", "intel-sapphirerapids");
    const zen4 = layout("amd-zen4");
    const spr = layout("intel-sapphirerapids");
    assert.equal(r.from.frameBytes, maxFrameStackBytes(zen4.userSize + 4));
    assert.equal(r.to.frameBytes, maxFrameStackBytes(spr.userSize + 4));
    assert.equal(r.to.atMinSigStkSz, minSigStkSz(spr));
    assert.ok(r.to.atMinSigStkSz > spr.maxUserSize, "AT_MINSIGSTKSZ counts AMX tile data");
  });

  test("between profiles: sizes that hold the source's frame but not the destination's", () => {
    const f = find(check("intel-haswell", "intel-icelake-server").findings, "sigaltstack_too_small");
    assert.equal(f.length, 1);
    // Only the handler's room shrinks: info. A fixed size that no longer holds the frame is a warning.
    assert.equal(f[0]!.severity, "info");
    const hsw = layout("intel-haswell");
    assert.ok(
      f[0]!.message.includes(
        `sysconf(_SC_MINSIGSTKSZ) (intel-haswell's AT_MINSIGSTKSZ, ${minSigStkSz(hsw)})`,
      ),
      f[0]!.message,
    );
    // SIGSTKSZ and glibc's dynamic SIGSTKSZ still hold Ice Lake-SP's frame.
    assert.doesNotMatch(f[0]!.message, /SIGSTKSZ \(8192\)/);
    for (const [a, b] of [
      ["intel-icelake-server", "amd-zen5"],
      ["amd-zen4", "intel-sapphirerapids"],
    ] as const)
      assert.equal(find(check(a, b).findings, "sigaltstack_too_small").length, 0, `${a} → ${b}`);
  });

  test("with a checkpoint: each thread's own sigaltstack against the destination's frame", () => {
    const zen5 = layout("amd-zen5");
    const icx = layout("intel-icelake-server");
    const sp = 0x7f0000000000n;
    // Just enough for Zen 5's frame at this alignment, not for Ice Lake-SP's.
    const sizeA = BigInt(altstackDelivery(sp, 0x10000n, zen5.userSize + 4).frameBytes + 16);
    assert.ok(altstackDelivery(sp, sizeA, zen5.userSize + 4).fits);
    assert.ok(!altstackDelivery(sp, sizeA, icx.userSize + 4).fits);
    const altstacks = [
      { thread: "pid 10 thread 10", sp, size: sizeA, flags: 0 },
      { thread: "pid 10 thread 11", sp, size: 0x10000n, flags: 0 },
      { thread: "pid 10 thread 12", sp: 0n, size: 0n, flags: 2 },
    ];
    const r = checkCompat({ from: zen5, to: icx, predict, policies: ["classic"], altstacks });
    const f = find(r.findings, "sigaltstack_too_small");
    assert.equal(f.length, 1, JSON.stringify(f));
    assert.equal(f[0]!.severity, "error");
    assert.match(f[0]!.message, /^pid 10 thread 10: its sigaltstack 0x7f0000000000\+\d+ holds/);
    assert.match(f[0]!.message, /overflowed sigaltstack/);
    assert.equal(r.verdict, "incompatible");
  });

  test("restored as an AMX task (check --amx): a sigaltstack below the kernel's AMX bounds is refused, not overflowed", () => {
    const zen5 = layout("amd-zen5");
    const spr = layout("intel-sapphirerapids", true);
    const sprHost = layout("intel-sapphirerapids");
    const sp = 0x7f0000000000n;
    // validate_sigaltstack()'s bound for the request, sigaltstack_size_valid()'s once granted.
    const needPerm = permissionAltstackMinimum(sprHost, spr.userSize);
    const afterPerm = sigaltstackMinimum(sprHost, spr.userSize);
    assert.ok(afterPerm < needPerm);
    // Every stack the kernel accepts for an AMX task holds its frame: no overflow is possible.
    assert.ok(altstackDelivery(sp, BigInt(afterPerm), spr.userSize + 4).fits);
    const between = BigInt(afterPerm + Math.floor((needPerm - afterPerm) / 2));
    const altstacks = [
      { thread: "pid 7 thread 7", sp, size: 8192n, flags: 0 },
      { thread: "pid 7 thread 8", sp, size: 0x10000n, flags: 0 },
      { thread: "pid 7 thread 9", sp, size: between, flags: 0 },
    ];
    const r = checkCompat({ from: zen5, to: spr, predict, policies: ["classic"], altstacks });
    const f = find(r.findings, "sigaltstack_too_small");
    const of = (t: number) => f.filter((x) => x.message.startsWith(`pid 7 thread ${t}:`));
    assert.equal(of(7).length, 1, JSON.stringify(f));
    assert.equal(of(7)[0]!.severity, "error");
    assert.match(
      of(7)[0]!.message,
      /ARCH_REQ_XCOMP_PERM fails \(-ENOSPC.*sigaltstack\(\) refuses it \(-ENOMEM/,
    );
    assert.doesNotMatch(of(7)[0]!.message, /overflowed/);
    assert.equal(of(8).length, 0);
    // Between the two bounds only the order of the restore decides: a warning.
    assert.equal(of(9).length, 1, JSON.stringify(f));
    assert.equal(of(9)[0]!.severity, "warning");
    assert.match(of(9)[0]!.message, /-ENOSPC.*requests the permission first/);

    // Between profiles: SIGSTKSZ cannot coexist with the permission; it is not called an overflow.
    const p = find(
      checkCompat({ from: zen5, to: spr, predict, policies: ["classic"] }).findings,
      "sigaltstack_too_small",
    );
    assert.equal(p.length, 1);
    assert.equal(p[0]!.severity, "warning");
    assert.match(p[0]!.message, /SIGSTKSZ \(8192\) bytes cannot coexist with AMX permission/);
    assert.doesNotMatch(p[0]!.message, /overflowed/);
  });
});
