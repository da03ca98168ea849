/**
 * The web explorer's server (`sigframe serve`): web/, built into web/dist by `npm run build:web`,
 * on 127.0.0.1 only. A static file server on node:http: GET and HEAD, content types by extension,
 * no path outside the app's folder (`..`, encoded slashes, backslashes, symlinks out are refused),
 * and only requests addressed to 127.0.0.1 or localhost (a page elsewhere cannot reach it through
 * DNS rebinding). The explorer computes everything in the browser with src/core.
 */
import { existsSync, statSync } from "node:fs";
import { readFile, realpath, stat } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { EnvironmentError } from "../core/errors.ts";
import { packageRoot } from "./package-root.ts";

export const HOST = "127.0.0.1";

/** Where the built app is: $SIGFRAME_WEB_DIST, else web/dist of this package. */
export function webDistDir(env: Record<string, string | undefined> = process.env): string {
  const given = env.SIGFRAME_WEB_DIST;
  if (given) return resolve(given);
  return join(packageRoot(), "web", "dist");
}

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".wasm": "application/wasm",
};

export function contentType(path: string): string {
  return CONTENT_TYPES[extname(path).toLowerCase()] ?? "application/octet-stream";
}

/**
 * The page loads only its own files; nothing it shows can run script or reach the network. Its
 * zstd and xz decoders are WebAssembly modules inside its own scripts, which fetch them from a
 * data: URL and compile them: that needs `connect-src data:` (no network) and 'wasm-unsafe-eval'
 * (WebAssembly only; JavaScript eval stays refused).
 */
const CSP = [
  "default-src 'none'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/**
 * The file a request path names inside `root`, or a status: 400 for an undecodable path, 403 for
 * anything that tries to leave `root` (or hides a separator or NUL in an escape).
 */
function resolveRequestPath(root: string, rawUrl: string): { file: string } | { status: 400 | 403 } {
  const q = rawUrl.search(/[?#]/);
  const rawPath = q < 0 ? rawUrl : rawUrl.slice(0, q);
  if (!rawPath.startsWith("/")) return { status: 400 };
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    return { status: 400 };
  }
  if (decoded.includes("\0") || decoded.includes("\\")) return { status: 403 };
  const segments = decoded.split("/");
  if (segments.some((s) => s === ".." || s === ".")) return { status: 403 };
  // An escaped "/" would make one segment two.
  if (/%2f/i.test(rawPath)) return { status: 403 };
  const rel = segments.filter(Boolean).join("/");
  const file = resolve(root, rel === "" ? "index.html" : rel);
  const back = relative(root, file);
  if (back.startsWith("..") || isAbsolute(back)) return { status: 403 };
  return { file };
}

interface ServeOptions {
  /** The built app (web/dist). */
  root: string;
  /** 0 picks a free port. */
  port: number;
}

export interface RunningServer {
  url: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  const body = `${text}\n`;
  res.writeHead(status, {
    "Content-Type": "text/plain; charset=utf-8",
    "Content-Length": String(Buffer.byteLength(body)),
    "X-Content-Type-Options": "nosniff",
    ...headers,
  });
  res.end(res.req.method === "HEAD" ? undefined : body);
}

function hostAllowed(req: IncomingMessage, port: number): boolean {
  const host = (req.headers.host ?? "").toLowerCase();
  return host === `${HOST}:${port}` || host === `localhost:${port}`;
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  root: string,
  realRoot: string,
  port: number,
) {
  if (!hostAllowed(req, port)) {
    send(res, 403, "forbidden: this server answers requests for 127.0.0.1 and localhost only");
    return;
  }
  if (req.method !== "GET" && req.method !== "HEAD") {
    send(res, 405, "method not allowed", { Allow: "GET, HEAD" });
    return;
  }
  const r = resolveRequestPath(root, req.url ?? "/");
  if ("status" in r) {
    send(res, r.status, r.status === 400 ? "bad request path" : "forbidden: path outside the explorer");
    return;
  }
  let file = r.file;
  try {
    let st = await stat(file);
    if (st.isDirectory()) {
      file = join(file, "index.html");
      st = await stat(file);
    }
    if (!st.isFile()) throw new Error("not a file");
    const real = await realpath(file);
    if (real !== realRoot && !real.startsWith(realRoot + sep)) {
      send(res, 403, "forbidden: path outside the explorer");
      return;
    }
    const body = await readFile(real);
    const type = contentType(real);
    res.writeHead(200, {
      "Content-Type": type,
      "Content-Length": String(body.length),
      "X-Content-Type-Options": "nosniff",
      "Referrer-Policy": "no-referrer",
      "Cross-Origin-Opener-Policy": "same-origin",
      "Cross-Origin-Resource-Policy": "same-origin",
      "Cache-Control": type.startsWith("text/html") ? "no-cache" : "max-age=300",
      ...(type.startsWith("text/html") ? { "Content-Security-Policy": CSP } : {}),
    });
    res.end(req.method === "HEAD" ? undefined : body);
  } catch {
    send(res, 404, "not found");
  }
}

/** Throws EnvironmentError (exit 4) when the app is not built. */
function checkBuilt(root: string): void {
  const index = join(root, "index.html");
  if (!existsSync(index) || !statSync(index).isFile()) {
    throw new EnvironmentError("the web explorer is not built (no index.html); run 'npm run build:web'", {
      input: root,
    });
  }
}

/** Starts the server on 127.0.0.1; resolves once it listens. */
export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  const root = resolve(opts.root);
  checkBuilt(root);
  const realRoot = await realpath(root);
  let port = opts.port;
  const server = createServer((req, res) => {
    handle(req, res, root, realRoot, port).catch(() => {
      if (!res.headersSent) send(res, 500, "internal error");
      else res.destroy();
    });
  });
  await new Promise<void>((ok, fail) => {
    const onError = (e: NodeJS.ErrnoException) => {
      if (e.code === "EADDRINUSE") {
        fail(
          new EnvironmentError(`port ${opts.port} is in use on ${HOST} (--port 0 picks a free one)`, {
            input: "--port",
          }),
        );
      } else if (e.code === "EACCES") {
        fail(new EnvironmentError(`not allowed to listen on port ${opts.port}`, { input: "--port" }));
      } else {
        fail(
          new EnvironmentError(`cannot listen on ${HOST}:${opts.port}: ${e.message}`, { input: "--port" }),
        );
      }
    };
    server.once("error", onError);
    server.listen(opts.port, HOST, () => {
      server.off("error", onError);
      ok();
    });
  });
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://${HOST}:${port}/`,
    port,
    server,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      }),
  };
}
