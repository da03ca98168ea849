/**
 * The runner without a process: the CLI bundle's second entry (dist/bundle/train.js), which the
 * build loads to run a few commands in one process and write V8's code cache of every bundle file
 * they loaded (bin/bundle-loader.js). It shares every chunk with the `sigframe` entry.
 */
export { SUPPORTED_IMAGE_TYPES } from "../core/criu/handlers.ts";
export { IMAGE_MAGICS, INVENTORY_MAGIC } from "../core/criu/image.ts";
export { memoryIo } from "./context.ts";
export { run } from "./main.ts";
