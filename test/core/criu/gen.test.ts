import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { REPO_ROOT } from "../../helpers/shared.ts";

const protoc = spawnSync("protoc", ["--version"], { encoding: "utf8" });
const have = !protoc.error && protoc.status === 0;

/**
 * opts.proto imports google/protobuf/descriptor.proto, which Debian ships in libprotobuf-dev, not
 * in protobuf-compiler: without it protoc stops with "File not found" before generating anything.
 */
function wellKnownTypesMissing(): boolean {
  if (!have) return false;
  const r = spawnSync(
    "protoc",
    [
      "--proto_path=proto/criu",
      `--descriptor_set_out=${join(tmpdir(), `sigframe-probe-${process.pid}.pb`)}`,
      "opts.proto",
    ],
    { cwd: REPO_ROOT, encoding: "utf8" },
  );
  return r.status !== 0 && /google\/protobuf\/descriptor\.proto: File not found/.test(r.stderr);
}

const skip = !have
  ? "protoc is not installed (Debian package protobuf-compiler; CI installs it)"
  : wellKnownTypesMissing()
    ? "protoc cannot find google/protobuf/descriptor.proto (Debian package libprotobuf-dev; CI installs it)"
    : undefined;

test(
  "the committed generated CRIU code is what scripts/gen-criu.sh (protoc, protoc-gen-es, criu-embed.ts) makes of proto/criu",
  skip ? { skip } : {},
  () => {
    const out = join(mkdtempSync(join(tmpdir(), "sigframe-gen-")), "gen");
    try {
      const r = spawnSync("sh", [join(REPO_ROOT, "scripts", "gen-criu.sh"), out], {
        cwd: REPO_ROOT,
        encoding: "utf8",
      });
      assert.equal(r.status, 0, r.stderr);
      const committed = join(REPO_ROOT, "src", "core", "criu", "gen");
      const fresh = readdirSync(out).sort();
      assert.deepEqual(fresh, readdirSync(committed).sort());
      for (const f of fresh) {
        assert.equal(
          readFileSync(join(out, f), "utf8"),
          readFileSync(join(committed, f), "utf8"),
          `${f} is stale: run npm run gen:criu`,
        );
      }
    } finally {
      rmSync(dirname(out), { recursive: true, force: true });
    }
  },
);

test("CI installs what protoc needs for proto/criu: libprotobuf-dev where a proto imports google/protobuf", () => {
  const importsWellKnown = readdirSync(join(REPO_ROOT, "proto", "criu")).some((f) =>
    /^import\s+"google\/protobuf\//m.test(readFileSync(join(REPO_ROOT, "proto", "criu", f), "utf8")),
  );
  const ci = readFileSync(join(REPO_ROOT, ".ci", "run"), "utf8");
  const installed = [...ci.matchAll(/apt-get install[^\n]*/g)].flatMap((m) => m[0].split(/\s+/));
  assert.ok(installed.includes("protobuf-compiler"), "protoc");
  if (importsWellKnown) assert.ok(installed.includes("libprotobuf-dev"), ".ci/run lacks libprotobuf-dev");
});
