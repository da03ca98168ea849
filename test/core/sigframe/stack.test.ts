import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { BUILTIN_PROFILES } from "../../../src/core/profiles/builtins.ts";
import { profileFromBytes } from "../../../src/core/profiles/detect.ts";
import {
  altstackDelivery,
  frameStackBytes,
  MINSIGSTKSZ,
  maxFrameStackBytes,
  minSigStkSz,
  permissionAltstackMinimum,
  sigaltstackCall,
  sigaltstackMinimum,
} from "../../../src/core/sigframe/stack.ts";
import { computeLayout } from "../../../src/core/xsave/layout.ts";
import { needs } from "../../helpers/shared.ts";
import { CORE_DIR, coreBytes, SCENARIOS, truth } from "../elf/fixtures.ts";

const builtin = (name: string) => BUILTIN_PROFILES.find((b) => b.name === name)!.build();

describe("signal stack sizes", () => {
  test(
    "AT_MINSIGSTKSZ: the model equals what the kernel put in the auxv of each fixture process",
    needs(CORE_DIR, "fixture cores"),
    () => {
      for (const s of SCENARIOS) {
        const p = profileFromBytes(coreBytes(s, "kernel"), `${s}.kernel`);
        assert.equal(p.atMinSigStkSz, truth(s).host.at_minsigstksz);
        assert.equal(minSigStkSz(computeLayout(p)), p.atMinSigStkSz, s);
      }
    },
  );

  test(
    "where a frame lands on a sigaltstack: the fixture's real frame on its 64 KiB altstack (S4)",
    needs(CORE_DIR, "fixture truth"),
    () => {
      const t = truth("S4") as unknown as {
        threads: {
          altstack: { ss_sp: string; ss_size: number };
          frames: { frame_addr: string; fpstate: string }[];
        }[];
      };
      const th = t.threads[0]!;
      const top = BigInt(th.altstack.ss_sp) + BigInt(th.altstack.ss_size);
      const frame = BigInt(th.frames[0]!.frame_addr);
      // The fixture host (Zen 5, XCR0 0xe7): extended_size 2436.
      assert.equal(frameStackBytes(2436, top), Number(top - frame));
      const d = altstackDelivery(BigInt(th.altstack.ss_sp), BigInt(th.altstack.ss_size), 2436);
      assert.ok(d.fits);
      assert.equal(d.room, th.altstack.ss_size - Number(top - frame));
    },
  );

  test("a frame never takes more than the worst-case bound, nor less than its fpstate and rt_sigframe", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 512, max: 20000 }),
        fc.bigInt({ min: 1n << 20n, max: 1n << 46n }),
        (ext, top) => {
          const n = frameStackBytes(ext, top);
          return n <= maxFrameStackBytes(ext) && n >= ext + 440 + 8;
        },
      ),
    );
  });

  test("delivery on an altstack one byte too small overflows; one byte more fits", () => {
    const sp = 0x7f0000000000n;
    for (const ext of [836, 2436, 2700, 11012]) {
      const need = frameStackBytes(ext, sp + 0x10000n);
      // With a page-aligned top the frame takes the same bytes whatever the size below it.
      const top = sp + 0x10000n;
      assert.equal(altstackDelivery(top - BigInt(need), BigInt(need), ext).fits, false);
      assert.equal(altstackDelivery(top - BigInt(need + 1), BigInt(need + 1), ext).fits, true);
    }
  });

  test("AMX bounds: ARCH_REQ_XCOMP_PERM needs AT_MINSIGSTKSZ, sigaltstack() after it a little less", () => {
    const spr = computeLayout(builtin("intel-sapphirerapids"));
    const amx = computeLayout(builtin("intel-sapphirerapids"), { amx: true });
    assert.equal(permissionAltstackMinimum(spr, amx.userSize), minSigStkSz(spr));
    const after = sigaltstackMinimum(spr, amx.userSize);
    assert.ok(after < minSigStkSz(spr) && after > amx.userSize, `${after}`);
    assert.equal(sigaltstackCall(spr, after - 1, amx.userSize), "ENOMEM");
    assert.equal(sigaltstackCall(spr, after, amx.userSize), "ok");
    // Without the permission only MINSIGSTKSZ is enforced (no strict_sas_size).
    assert.equal(sigaltstackCall(spr, MINSIGSTKSZ, undefined), "ok");
    assert.equal(sigaltstackCall(spr, MINSIGSTKSZ - 1, undefined), "ENOMEM");
    // A kernel without IA32 emulation reserves sizeof(rt_sigframe) instead of sizeof(sigframe_ia32)
    // and no FSAVE header.
    assert.ok(minSigStkSz(spr, { ia32Emulation: false }) < minSigStkSz(spr));
  });
});
