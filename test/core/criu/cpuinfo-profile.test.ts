/** A CRIU cpuinfo.img as a PROFILE: identification, synthesised CPUID, XCR0 and inferred offsets. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { signatureOf } from "../../../src/core/cpuid/cpuid.ts";
import { profileFromCpuinfoEntry } from "../../../src/core/criu/cpuinfo-profile.ts";
import { cpuinfo_x86_entrySchema } from "../../../src/core/criu/gen/cpuinfo_pb.ts";
import { InvalidDataError } from "../../../src/core/errors.ts";
import { profileFromBytes } from "../../../src/core/profiles/detect.ts";
import { computeLayout } from "../../../src/core/xsave/layout.ts";
import { needs } from "../../helpers/shared.ts";
import { CRIU_DIR, truth } from "./fixtures.ts";

describe("CRIU cpuinfo.img as a profile", () => {
  test("fixture cpuinfo.img: the dumping CPU and its XSAVE layout", needs(CRIU_DIR, "CRIU fixtures"), () => {
    const t = truth("S2");
    const p = profileFromBytes(readFileSync(join(CRIU_DIR, "S2", "cpuinfo.img")), "cpuinfo.img");
    assert.equal(p.source.kind, "criu-cpuinfo");
    assert.equal(p.vendor, "AuthenticAMD");
    assert.deepEqual([p.family, p.model, p.stepping], [t.host.family, t.host.model, t.host.stepping]);
    assert.equal(p.vendor, t.host.cpu_vendor);
    assert.equal(p.cpuid.signature(), Number(t.host.cpuid_1_eax));
    assert.equal(p.cpuid.vendor(), "AuthenticAMD");
    assert.equal(p.brand, "AMD EPYC");
    assert.ok(p.cpuid.has("XSAVE") && p.cpuid.has("OSXSAVE") && p.cpuid.has("AVX") && p.cpuid.has("AVX512F"));
    assert.ok(p.cpuid.has("XSAVEC") && p.cpuid.has("XSAVES"));
    assert.equal(p.cpuid.has("PKU"), false);
    // xfeatures_mask 0xe5 with CRIU's bit-1 bug undone.
    assert.equal(p.xcr0, BigInt(t.xsave_layout.xcr0));
    assert.ok(p.notes.some((n) => n.includes("bit 1 (SSE)")));
    assert.ok(p.notes.some((n) => n.includes("sub-leaves are not stored")));
    const l = computeLayout(p);
    assert.equal(l.userSize, t.xsave_layout.cpuid_d0_ebx_user_size);
    for (const c of t.xsave_layout.components as { index: number; offset: number; size: number }[]) {
      const mine = l.components.find((x) => x.bit === c.index);
      assert.ok(mine, `component ${c.index}`);
      assert.equal(mine.offset, c.offset, `offset of ${c.index}`);
      assert.equal(mine.size, c.size, `size of ${c.index}`);
    }
    assert.deepEqual(l.warnings, []);
  });

  test("Intel entry: Intel offsets, PKRU, BNDREGS restored next to BNDCSR", () => {
    const words = new Array(19).fill(0);
    words[0] = (1 << 24) | (1 << 25);
    words[4] = (1 << 26) | (1 << 27) | (1 << 28);
    words[9] = (1 << 14) | (1 << 16);
    words[11] = (1 << 3) | (1 << 4);
    words[10] = 0xf;
    const e = create(cpuinfo_x86_entrySchema, {
      vendorId: 1,
      cpuFamily: 6,
      model: 0x55,
      stepping: 4,
      capabilityVer: 2,
      capability: words,
      modelId: "Intel(R) Xeon(R)",
      xfeaturesMask: 0x2f5n,
      xsaveSize: 2696,
      xsaveSizeMax: 2696,
    });
    const p = profileFromCpuinfoEntry(e, "intel.img");
    assert.equal(p.vendor, "GenuineIntel");
    assert.equal(p.cpuid.signature(), signatureOf(6, 0x55, 4));
    assert.deepEqual(p.cpuid.fms(), { family: 6, model: 0x55, stepping: 4 });
    assert.equal(p.xcr0, 0x2ffn);
    const l = computeLayout(p);
    assert.equal(l.components.find((c) => c.bit === 5)?.offset, 1088);
    assert.equal(l.components.find((c) => c.bit === 9)?.offset, 2688);
    assert.equal(l.maxUserSize, 2696);
    assert.ok(!p.notes.some((n) => n.includes("may not be this CPU's")));
    // A size that contradicts the inferred offsets is flagged.
    const odd = profileFromCpuinfoEntry(
      create(cpuinfo_x86_entrySchema, { ...e, xsaveSize: 2440 }),
      "odd.img",
    );
    assert.ok(odd.notes.some((n) => n.includes("may not be this CPU's")));
    // A size no CPU has is invalid data, at its field.
    for (const field of ["xsaveSize", "xsaveSizeMax"] as const) {
      assert.throws(
        () =>
          profileFromCpuinfoEntry(create(cpuinfo_x86_entrySchema, { ...e, [field]: 0xfffffff0 }), "huge.img"),
        (err: InvalidDataError) =>
          err instanceof InvalidDataError &&
          err.path === `entries/0/x86_entry/0/${field === "xsaveSize" ? "xsave_size" : "xsave_size_max"}` &&
          /no CPU has an XSAVE area over/.test(err.message),
      );
    }
  });

  test("family encoding round-trips through CPUID.1.EAX", () => {
    for (const [f, m, s] of [
      [6, 0x8f, 8],
      [0x19, 0x11, 1],
      [0x1a, 2, 1],
      [5, 4, 3],
    ] as const) {
      const e = create(cpuinfo_x86_entrySchema, {
        vendorId: 2,
        cpuFamily: f,
        model: m,
        stepping: s,
        capabilityVer: 2,
      });
      assert.deepEqual(profileFromCpuinfoEntry(e, "x").cpuid.fms(), { family: f, model: m, stepping: s });
    }
  });
});
