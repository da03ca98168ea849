import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { REPO_ROOT } from "../../helpers/shared.ts";

const protoc = spawnSync("protoc", ["--version"], { encoding: "utf8" });
const have = !protoc.error && protoc.status === 0;

test(
  "the committed generated CRIU code is what protoc + protoc-gen-es make of proto/criu",
  have ? {} : { skip: "protoc is not installed (Debian package protobuf-compiler; CI installs it)" },
  () => {
    const out = mkdtempSync(join(tmpdir(), "sigframe-gen-"));
    const protos = readdirSync(join(REPO_ROOT, "proto", "criu"))
      .filter((f) => f.endsWith(".proto"))
      .map((f) => join("proto", "criu", f));
    const r = spawnSync(
      "protoc",
      [
        `--plugin=protoc-gen-es=${join(REPO_ROOT, "node_modules", ".bin", "protoc-gen-es")}`,
        `--es_out=${out}`,
        "--es_opt=target=ts,import_extension=ts",
        "--proto_path=proto/criu",
        ...protos,
      ],
      { cwd: REPO_ROOT, encoding: "utf8" },
    );
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
  },
);
