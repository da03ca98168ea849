/**
 * A Linux kernel booted under qemu-system-x86_64 with abi-test's initramfs: the static helper runs
 * as /init and takes commands on the second serial port (native/init.c), which QEMU connects to
 * this process's pipes; the first serial port is the kernel console, kept in a file for when the
 * boot goes wrong. One session per boot: `start`, then `run` helper subcommands, then `close`.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { abiTestInitramfs } from "../core/cpio.ts";
import { EnvironmentError, UsageError } from "../core/errors.ts";
import type { HelperOutput } from "./native.ts";
import { staticHelperStatus } from "./native.ts";

export const QEMU = "qemu-system-x86_64";

export type Accel = "kvm" | "tcg";

/** QEMU's version line, or why it cannot run. */
export function qemuVersion(): { ok: true; version: string } | { ok: false; reason: string } {
  const r = spawnSync(QEMU, ["--version"], { encoding: "utf8", timeout: 30_000 });
  if (r.error || r.status !== 0) {
    return {
      ok: false,
      reason: `${QEMU} is not installed or does not run (Debian: apt-get install qemu-system-x86)`,
    };
  }
  const m = /version (\S+)/.exec(r.stdout);
  return { ok: true, version: m ? m[1]! : r.stdout.split("\n")[0]!.trim() };
}

/**
 * Whether KVM can run an ordinary guest kernel here: /dev/kvm readable and writable, and the CPU
 * offers hardware virtualization (vmx or svm). A /dev/kvm without it (kvm_pvm, which runs only
 * PVM-enabled guest kernels) boots a distribution kernel into a hang, not into /init.
 */
export function kvmStatus(): { ok: true } | { ok: false; reason: string } {
  try {
    accessSync("/dev/kvm", constants.R_OK | constants.W_OK);
  } catch {
    return {
      ok: false,
      reason: existsSync("/dev/kvm") ? "/dev/kvm is not accessible" : "there is no /dev/kvm",
    };
  }
  let flags = "";
  try {
    flags = readFileSync("/proc/cpuinfo", "utf8");
  } catch {}
  if (!/^flags\s*:.*\b(vmx|svm)\b/m.test(flags)) {
    const pvm = existsSync("/sys/module/kvm_pvm");
    return {
      ok: false,
      reason: pvm
        ? "/dev/kvm is PVM (kvm_pvm): it runs only PVM-enabled guest kernels, and the CPU offers no vmx/svm"
        : "the CPU offers no hardware virtualization (no vmx/svm flag)",
    };
  }
  return { ok: true };
}

/** Where built initramfs images are kept: $XDG_CACHE_HOME/sigframe, ~/.cache/sigframe, else the temp dir. */
export function cacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  for (const dir of [join(base, "sigframe"), join(tmpdir(), "sigframe-cache")]) {
    try {
      mkdirSync(dir, { recursive: true });
      accessSync(dir, constants.W_OK);
      return dir;
    } catch {}
  }
  throw new EnvironmentError("no writable cache directory for the initramfs", { input: "abi-test" });
}

/**
 * The initramfs for the static helper that is built now: made once per helper binary (its hash
 * names the file) and kept in the cache directory.
 */
export function initramfsPath(): { path: string; built: boolean } {
  const s = staticHelperStatus();
  if (!s.ok) throw new EnvironmentError(s.reason, { input: "abi-test" });
  const helper = readFileSync(s.path);
  const hash = createHash("sha256").update(helper).digest("hex").slice(0, 16);
  const path = join(cacheDir(), `abi-test-initramfs-${hash}.cpio`);
  if (existsSync(path)) return { path, built: false };
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, abiTestInitramfs(helper));
  renameSync(tmp, path);
  return { path, built: true };
}

export interface BootOptions {
  kernel: string;
  initrd: string;
  accel: Accel;
  cpuModel: string;
  /** Seconds to reach /init. */
  bootTimeout: number;
  memoryMiB?: number;
}

/**
 * The kernel command line: console on the first port, quiet (console output costs time under TCG),
 * no mitigations (nothing to protect in a throw-away guest, and they slow TCG), power off on panic,
 * no timer check (a TCG vCPU starved by a loaded host fails it and panics: "IO-APIC + timer
 * doesn't work!", arch/x86/kernel/apic/io_apic.c check_timer()).
 */
const APPEND = "console=ttyS0 quiet panic=-1 mitigations=off no_timer_check";

interface Message {
  tag: string;
  payload: Buffer;
}

/** The largest message /init sends: a probe's output for every case (each well under 64 KiB). */
const MAX_MESSAGE = 256 * 1024 * 1024;

/** Signals whose default action ends this process, and so must end QEMU first. */
const ENDING_SIGNALS: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

export class GuestSession {
  private readonly proc: ChildProcess;
  private readonly dir: string;
  private buf: Buffer = Buffer.alloc(0);
  private readonly queue: Message[] = [];
  private waiter: (() => void) | undefined;
  private exited: { code: number | null; signal: string | null } | undefined;
  private stderr = "";
  readonly startedAt = Date.now();
  readySeconds = 0;

  private constructor(proc: ChildProcess, dir: string) {
    this.proc = proc;
    this.dir = dir;
    proc.stdout!.on("data", (d: Buffer) => this.feed(d));
    proc.stderr!.on("data", (d: Buffer) => {
      if (this.stderr.length < 16384) this.stderr += d.toString();
    });
    // A process that ends before close() (process.exit on an error path, a test runner's forced
    // exit) takes QEMU with it: a guest left running would keep its pipes, and whoever waits on
    // them, alive.
    // So does a signal that ends it (SIGTERM from a CI timeout reaches this process, not QEMU):
    // QEMU is killed, then the signal is raised again with its default action.
    const onExit = () => proc.kill("SIGKILL");
    const onSignal = (sig: NodeJS.Signals) => {
      proc.kill("SIGKILL");
      forget();
      process.kill(process.pid, sig);
    };
    const forget = () => {
      process.removeListener("exit", onExit);
      for (const sig of ENDING_SIGNALS) process.removeListener(sig, onSignal);
    };
    process.once("exit", onExit);
    for (const sig of ENDING_SIGNALS) process.once(sig, onSignal);
    // "close": after the exit and after stdout has delivered everything.
    proc.on("close", (code, signal) => {
      this.exited = { code, signal };
      forget();
      this.wake();
    });
    proc.stdin!.on("error", () => {});
  }

  /** Boots the kernel and waits for the agent's READY. */
  static async start(opts: BootOptions): Promise<GuestSession> {
    const dir = mkdtempSync(join(tmpdir(), "sigframe-qemu-"));
    const args = [
      "-nodefaults",
      "-no-user-config",
      "-display",
      "none",
      "-no-reboot",
      "-machine",
      "q35",
      "-accel",
      opts.accel,
      "-cpu",
      opts.cpuModel,
      "-m",
      String(opts.memoryMiB ?? 512),
      "-smp",
      "1",
      "-kernel",
      opts.kernel,
      "-initrd",
      opts.initrd,
      "-append",
      APPEND,
      "-chardev",
      `file,id=console,path=${join(dir, "console.log")}`,
      "-serial",
      "chardev:console",
      "-chardev",
      "stdio,id=channel,signal=off",
      "-serial",
      "chardev:channel",
    ];
    const proc = spawn(QEMU, args, { stdio: ["pipe", "pipe", "pipe"] });
    const s = new GuestSession(proc, dir);
    const spawnError = new Promise<Error>((resolve) => proc.on("error", resolve));
    const ready = await Promise.race([s.next(opts.bootTimeout * 1000), spawnError]);
    if (ready instanceof Error) {
      s.cleanup();
      throw new EnvironmentError(`cannot start ${QEMU}: ${ready.message}`, { input: "abi-test" });
    }
    if (ready?.tag !== "READY") {
      const why = s.failure(ready ? `unexpected ${ready.tag} before READY` : undefined, opts.bootTimeout);
      await s.kill();
      if (/unable to find CPU model|CPU model .* not found|invalid accelerator/i.test(why))
        throw new UsageError(why, { input: "--cpu-model" });
      throw new EnvironmentError(why, { input: opts.kernel });
    }
    s.readySeconds = (Date.now() - s.startedAt) / 1000;
    return s;
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  private feed(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    for (;;) {
      const nl = this.buf.indexOf(10);
      if (nl < 0) {
        // A header line is short: a guest writing on without a newline is not sending one.
        if (this.buf.length > 4096) this.buf = Buffer.alloc(0);
        break;
      }
      const m = /^SFR ([A-Z]+) (\d{1,9})$/.exec(this.buf.subarray(0, nl).toString("latin1"));
      if (!m || Number(m[2]) > MAX_MESSAGE) {
        this.buf = this.buf.subarray(nl + 1); // not ours (nothing else writes to this port)
        continue;
      }
      const n = Number(m[2]);
      if (this.buf.length < nl + 1 + n) break;
      this.queue.push({ tag: m[1]!, payload: Buffer.from(this.buf.subarray(nl + 1, nl + 1 + n)) });
      this.buf = this.buf.subarray(nl + 1 + n);
    }
    if (this.queue.length) this.wake();
  }

  /** The next message, or undefined when QEMU ended or the time ran out. */
  private async next(timeoutMs: number): Promise<Message | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.queue.shift();
      if (m) return m;
      if (this.exited || Date.now() >= deadline) return undefined;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /** The kernel console's last lines. */
  console(lines = 8): string {
    try {
      return readFileSync(join(this.dir, "console.log"), "utf8").trim().split("\n").slice(-lines).join("\n");
    } catch {
      return "";
    }
  }

  /** Why the guest is not answering, in one line. */
  private failure(what: string | undefined, timeoutS: number): string {
    const qemuSaid = this.stderr.trim().split("\n").filter(Boolean).pop();
    const last = this.console(40)
      .split("\n")
      .map((l) => l.replace(/^\[\s*[\d.]+\]\s*/, "").trim())
      .filter(Boolean);
    const panic = last.find((l) => /Kernel panic|not syncing/.test(l));
    if (this.exited && qemuSaid) return `${QEMU}: ${qemuSaid.replace(/^qemu-system-x86_64: /, "")}`;
    if (panic) return `the guest kernel panicked: ${panic}`;
    const tail = last.length ? `; the console ends with: ${last[last.length - 1]}` : "";
    if (this.exited)
      return `${QEMU} exited (${this.exited.signal ?? `code ${this.exited.code}`}) before /init answered${tail}`;
    return `${what ?? `/init did not answer within ${timeoutS} s`}${tail}`;
  }

  /** Runs one helper subcommand in the guest. */
  async run(args: readonly string[], input: string, timeoutMs: number): Promise<HelperOutput> {
    const stdin = Buffer.from(input);
    this.proc.stdin!.write(`RUN ${args.length} ${stdin.length}\n${args.join("\n")}\n`);
    if (stdin.length) this.proc.stdin!.write(stdin);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = await this.next(deadline - Date.now());
      if (!m) {
        const o: HelperOutput = {
          status: null,
          signal: null,
          stdout: Buffer.concat(out).toString(),
          stderr: Buffer.concat(err).toString(),
        };
        o.error = this.failure(undefined, Math.round(timeoutMs / 1000));
        return o;
      }
      if (m.tag === "OUT") out.push(m.payload);
      else if (m.tag === "ERR") err.push(m.payload);
      else if (m.tag === "EXIT") {
        const code = Number(m.payload.toString());
        return {
          status: code >= 128 ? null : code,
          signal: code >= 128 ? `signal ${code - 128}` : null,
          stdout: Buffer.concat(out).toString(),
          stderr: Buffer.concat(err).toString(),
        };
      }
    }
  }

  /** Powers the guest off (and makes sure QEMU is gone). */
  async close(timeoutMs = 30_000): Promise<void> {
    if (!this.exited) {
      this.proc.stdin!.write("OFF\n");
      const deadline = Date.now() + timeoutMs;
      while (!this.exited && Date.now() < deadline) await this.next(deadline - Date.now());
    }
    await this.kill();
  }

  private async kill(): Promise<void> {
    if (!this.exited) {
      this.proc.kill("SIGKILL");
      await new Promise<void>((resolve) => {
        if (this.exited) resolve();
        else this.proc.once("close", () => resolve());
      });
    }
    this.cleanup();
  }

  private cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
