/**
 * Runs one CLI command in a fresh process and prints what it did as one JSON line: exit code,
 * stderr, CPU milliseconds and how far peak memory rose during the run. The fuzzer measures time
 * and memory findings this way (a process of its own has an exact peak and can be stopped).
 *
 *   node --import tsx fuzz/probe.ts '["scan","case/frame.core","--json"]'
 */
import { memoryIo } from "../src/cli/context.ts";
import { run } from "../src/cli/main.ts";

const args = JSON.parse(process.argv[2] ?? "[]") as string[];
// As the campaign runs it: the core's decoders, no decompressor process.
process.env.SIGFRAME_DECOMPRESS = "in-process";
const io = memoryIo();
// Load the command's modules first: their memory and time are not the input's.
await run([args[0] ?? "help", "--help"], memoryIo());
const rss = process.memoryUsage.rss();
const peakBefore = process.resourceUsage().maxRSS * 1024;
const cpu0 = process.cpuUsage();
let code: number;
try {
  code = await run(args, io);
} catch (e) {
  code = -1;
  io.err += String((e as Error)?.stack ?? e);
}
const cpu = process.cpuUsage(cpu0);
const peak = process.resourceUsage().maxRSS * 1024;
process.stdout.write(
  `${JSON.stringify({
    code,
    err: io.err.slice(0, 4000),
    cpuMs: (cpu.user + cpu.system) / 1000,
    memoryBytes: peak > peakBefore ? peak - rss : 0,
    peakBytes: peak,
  })}\n`,
);
