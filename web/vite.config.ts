/**
 * The web explorer: a static app built into web/dist and served by `sigframe serve`. It imports
 * the pure core (../src/core) directly, so the browser parses profiles and frames with the same
 * code as the CLI.
 */
import { defineConfig } from "vite";

export default defineConfig({
  // Relative asset URLs: the app works from any path and from file copies of dist/.
  base: "./",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    // One small app: no chunk splitting, no inlined fonts or remote assets.
    assetsInlineLimit: 0,
    reportCompressedSize: false,
  },
  server: {
    host: "127.0.0.1",
    fs: { allow: [".."] },
  },
  preview: { host: "127.0.0.1" },
});
