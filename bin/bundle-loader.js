// Loads the CLI bundle (dist/bundle/: CommonJS files that scripts/build-cli.mjs writes) with V8's
// code cache. Node 20 has no module compile cache of its own (module.enableCompileCache came in
// Node 22), so each bundle file is compiled here as a vm.Script with the cached data that the build
// wrote beside it (dist/bundle/code-cache/), which spares V8 parsing and compiling the code that
// start-up runs. The cache is only a shortcut, never a source of code:
// - a cache file holds a copy of the bundle file it was made from, compared byte for byte with the
//   file loaded (a memcmp, cheaper than hashing it, and no module to load for a hash: node:zlib's
//   crc32 brought node's stream modules with it); any other content (rebuilt, edited) is compiled
//   from its source;
// - V8 itself rejects cached data made by another V8 version or with other V8 flags (then
//   script.cachedDataRejected is true and the source is compiled as usual).
// The bundle's files require only each other (relative paths) and Node's built-in modules. Built-in
// modules that take milliseconds to load (child_process, net, http, …), which modules import at
// their top for one function that only some inputs call, are handed out as objects that load the
// module when first used.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");

/**
 * A cache file: magic "SFC3" (u32), the source's size (u32), the source itself, then V8's data.
 */
const HEADER = 8;
const MAGIC = 0x33434653;

// The wrapper starts a line of its own (lineOffset -1 keeps stack traces' line numbers).
const HEAD = "(function (exports, require, module, __filename, __dirname) {\n";
const TAIL = "\n})";

/** Built-in modules not in Node's start-up snapshot that cost a millisecond or more to load. */
const LAZY_BUILTINS = new Set([
  "child_process",
  "crypto",
  "dgram",
  "http",
  "https",
  "net",
  "readline",
  "tls",
  "worker_threads",
]);

/** A built-in module, or for LAZY_BUILTINS an object that loads it on first use. */
function builtin(id) {
  const name = id.startsWith("node:") ? id.slice(5) : id;
  if (!LAZY_BUILTINS.has(name)) return require(id);
  let mod;
  const real = () => {
    mod ??= require(`node:${name}`);
    return mod;
  };
  return new Proxy(
    {},
    {
      get: (_, key) => real()[key],
      has: (_, key) => key in real(),
      ownKeys: () => Reflect.ownKeys(real()),
      getOwnPropertyDescriptor: (_, key) => {
        const d = Reflect.getOwnPropertyDescriptor(real(), key);
        // A proxy may not report a property as non-configurable that its target lacks.
        return d && { ...d, configurable: true };
      },
    },
  );
}

class BundleLoader {
  /**
   * @param {string} dir the bundle's folder (dist/bundle)
   * @param {{ useCache?: boolean }} [options] useCache false: compile every file from source (the
   *   build does, to make a fresh cache)
   */
  constructor(dir, options = {}) {
    this.dir = dir;
    this.cacheDir = path.join(dir, "code-cache");
    this.useCache = options.useCache !== false;
    /** @type {Map<string, { exports: unknown }>} */
    this.modules = new Map();
    /** @type {{ file: string, script: vm.Script, bytes: Buffer, cache: string }[]} */
    this.loaded = [];
    /** Per loaded file: "accepted", "rejected" (by V8), "stale" (other source) or "none". */
    this.cacheUse = new Map();
  }

  /** The cache file of a bundle file. */
  cacheFile(file) {
    // Files are loaded by their path below this.dir (path.join of it and a relative id).
    return file.startsWith(`${this.dir}${path.sep}`)
      ? `${this.cacheDir}${file.slice(this.dir.length)}.v8`
      : path.join(this.cacheDir, `${path.relative(this.dir, file)}.v8`);
  }

  /** Loads (once) and returns the exports of a bundle file; throws fs errors for a missing file. */
  load(file) {
    const known = this.modules.get(file);
    if (known) return known.exports;
    const run = this.compile(file);
    const module = { exports: {} };
    this.modules.set(file, module);
    const dir = path.dirname(file);
    const requireHere = (id) =>
      id.startsWith("./") || id.startsWith("../") ? this.load(path.join(dir, id)) : builtin(id);
    run(module.exports, requireHere, module, file, dir);
    return module.exports;
  }

  /** Compiles a bundle file (with its cache where it has a valid one) without running it. */
  compile(file) {
    const bytes = fs.readFileSync(file);
    const source = bytes.toString("utf8");
    const cache = this.cacheFile(file);
    let cachedData;
    let use = "none";
    if (this.useCache) {
      let buf;
      try {
        buf = fs.readFileSync(cache);
      } catch {}
      if (buf === undefined) use = "none";
      else if (
        buf.length > HEADER + bytes.length &&
        buf.readUInt32LE(0) === MAGIC &&
        buf.readUInt32LE(4) === bytes.length &&
        bytes.equals(buf.subarray(HEADER, HEADER + bytes.length))
      ) {
        cachedData = buf.subarray(HEADER + bytes.length);
      } else use = "stale";
    }
    const script = new vm.Script(HEAD + source + TAIL, { filename: file, lineOffset: -1, cachedData });
    if (cachedData) use = script.cachedDataRejected ? "rejected" : "accepted";
    this.cacheUse.set(file, use);
    this.loaded.push({ file, script, bytes, cache });
    return script.runInThisContext();
  }

  /**
   * Writes the code cache of every file loaded so far, with what V8 compiled while they ran (call it
   * after running representative commands: functions that never ran are compiled when first called).
   * Each file is written atomically. Returns the files written.
   */
  writeCache() {
    const written = [];
    for (const { script, bytes, cache } of this.loaded) {
      const data = script.createCachedData();
      const head = Buffer.alloc(HEADER);
      head.writeUInt32LE(MAGIC, 0);
      head.writeUInt32LE(bytes.length, 4);
      fs.mkdirSync(path.dirname(cache), { recursive: true });
      const tmp = `${cache}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, Buffer.concat([head, bytes, data]));
      fs.renameSync(tmp, cache);
      written.push(cache);
    }
    return written;
  }
}

module.exports = { BundleLoader };
