/**
 * `sigframe serve`: static files from the built app on 127.0.0.1 only, with content types,
 * refusals for paths that leave the app's folder, and the CLI's exit codes.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { DEFAULT_PORT, portOption } from "../../src/cli/serve.ts";
import { contentType, type RunningServer, startServer } from "../../src/node/serve.ts";
import { bundledCli } from "../helpers/cli-bundle.ts";
import { REPO_ROOT } from "../helpers/shared.ts";
import { sf } from "./helpers.ts";

let top: string;
let root: string;
let srv: RunningServer;

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A raw request: the path goes on the wire as given (no client-side normalisation). */
function get(path: string, opts: { method?: string; host?: string } = {}): Promise<Reply> {
  return new Promise((ok, fail) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: srv.port,
        path,
        method: opts.method ?? "GET",
        headers: { host: opts.host ?? `127.0.0.1:${srv.port}` },
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c) => {
          body += c;
        });
        res.on("end", () => ok({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on("error", fail);
    req.end();
  });
}

before(async () => {
  top = mkdtempSync(join(tmpdir(), "sigframe-serve-"));
  root = join(top, "dist");
  mkdirSync(join(root, "assets"), { recursive: true });
  writeFileSync(join(root, "index.html"), "<!doctype html><title>t</title>");
  writeFileSync(join(root, "assets", "app.js"), "console.log(1)");
  writeFileSync(join(root, "assets", "app.css"), "body{}");
  writeFileSync(join(root, "assets", "map.svg"), "<svg/>");
  writeFileSync(join(root, "assets", "blob.xyz"), "??");
  writeFileSync(join(top, "secret.txt"), "SECRET");
  symlinkSync(join(top, "secret.txt"), join(root, "assets", "link.txt"));
  srv = await startServer({ root, port: 0 });
});

after(async () => {
  await srv?.close();
});

test("listens on 127.0.0.1 only, on the port it was given or a free one", () => {
  const a = srv.server.address();
  assert.ok(a && typeof a === "object");
  assert.equal(a.address, "127.0.0.1");
  assert.ok(srv.port > 0);
  assert.equal(srv.url, `http://127.0.0.1:${srv.port}/`);
  assert.equal(portOption(undefined), DEFAULT_PORT);
  assert.equal(portOption("0"), 0);
});

test("serves the app with the right content types", async () => {
  const idx = await get("/");
  assert.equal(idx.status, 200);
  assert.equal(idx.headers["content-type"], "text/html; charset=utf-8");
  assert.match(idx.body, /<title>t<\/title>/);
  assert.match(String(idx.headers["content-security-policy"]), /default-src 'none'/);
  assert.equal(idx.headers["x-content-type-options"], "nosniff");
  const cases: [string, string][] = [
    ["/index.html", "text/html; charset=utf-8"],
    ["/assets/app.js", "text/javascript; charset=utf-8"],
    ["/assets/app.css", "text/css; charset=utf-8"],
    ["/assets/map.svg", "image/svg+xml"],
    ["/assets/blob.xyz", "application/octet-stream"],
    ["/assets/app.js?v=1#x", "text/javascript; charset=utf-8"],
  ];
  for (const [path, type] of cases) {
    const r = await get(path);
    assert.equal(r.status, 200, path);
    assert.equal(r.headers["content-type"], type, path);
    assert.equal(contentType(path.replace(/[?#].*/, "")), type);
  }
  const head = await get("/assets/app.js", { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(head.headers["content-length"], String("console.log(1)".length));
  assert.equal(head.body, "");
  assert.equal((await get("/nothing-here.js")).status, 404);
  assert.equal((await get("/assets")).status, 404);
});

test("refuses paths that leave the app's folder", async () => {
  for (const path of [
    "/../secret.txt",
    "/assets/../../secret.txt",
    "/%2e%2e/secret.txt",
    "/..%2fsecret.txt",
    "/assets%2f..%2f..%2fsecret.txt",
    "/..%5csecret.txt",
    "/assets/%2E%2E/%2E%2E/secret.txt",
    "/index.html%00.js",
    "/assets/link.txt",
  ]) {
    const r = await get(path);
    assert.ok(r.status === 403 || r.status === 400, `${path}: ${r.status}`);
    assert.doesNotMatch(r.body, /SECRET/, path);
  }
  assert.equal((await get("/%E0%A4%A")).status, 400);
});

test("answers only requests addressed to 127.0.0.1 or localhost, and only GET and HEAD", async () => {
  assert.equal((await get("/", { host: "attacker.example" })).status, 403);
  assert.equal((await get("/", { host: `attacker.example:${srv.port}` })).status, 403);
  assert.equal((await get("/", { host: `localhost:${srv.port}` })).status, 200);
  const post = await get("/", { method: "POST" });
  assert.equal(post.status, 405);
  assert.equal(post.headers.allow, "GET, HEAD");
});

test("serve without a built app: exit 4 and one line", async () => {
  const r = await sf(["serve", "--port", "0"], { SIGFRAME_WEB_DIST: join(top, "missing") });
  assert.equal(r.code, 4);
  assert.equal(r.out, "");
  assert.equal(
    r.err,
    `sigframe: ${join(top, "missing")}: the web explorer is not built (no index.html); run 'npm run build:web'\n`,
  );
});

test("serve with a bad or busy port: exit 2 and exit 4", async () => {
  for (const p of ["70000", "-1", "http", "1e3"]) {
    const r = await sf(["serve", "--port", p], { SIGFRAME_WEB_DIST: root });
    assert.equal(r.code, 2, p);
    assert.match(r.err, /^sigframe: --port: expected a port number 0…65535, got /);
  }
  const busy = createServer();
  await new Promise<void>((ok) => busy.listen(0, "127.0.0.1", ok));
  const port = (busy.address() as { port: number }).port;
  try {
    const r = await sf(["serve", "--port", String(port)], { SIGFRAME_WEB_DIST: root });
    assert.equal(r.code, 4);
    assert.equal(
      r.err,
      `sigframe: --port: port ${port} is in use on 127.0.0.1 (--port 0 picks a free one)\n`,
    );
  } finally {
    busy.close();
  }
});

test("'sigframe serve --port 0' prints its URL, serves, and stops on SIGTERM", {
  timeout: 60_000,
}, async () => {
  const child = spawn(process.execPath, [bundledCli(), "serve", "--port", "0"], {
    cwd: REPO_ROOT,
    env: { ...process.env, SIGFRAME_WEB_DIST: root },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stderr.on("data", (c) => {
    err += c;
  });
  const exited = new Promise<number | null>((ok) => child.on("exit", (code) => ok(code)));
  try {
    const url = await new Promise<string>((ok, fail) => {
      child.stdout.on("data", (c) => {
        out += c;
        const m = /^sigframe explorer: (http:\/\/127\.0\.0\.1:\d+\/)$/m.exec(out);
        if (m) ok(m[1]!);
      });
      child.on("exit", () => fail(new Error(`serve exited early: ${out}${err}`)));
    });
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "text/html; charset=utf-8");
    assert.match(await res.text(), /<title>t<\/title>/);
  } finally {
    child.kill("SIGTERM");
  }
  assert.equal(await exited, 0, err);
  assert.equal(err, "");
});
