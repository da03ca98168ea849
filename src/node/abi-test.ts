/**
 * `sigframe abi-test --kernel VMLINUZ`: boot the kernel under qemu-system-x86_64 once per CPU
 * model with the cached initramfs, read the guest's CPUID and frame through its /init, compute the
 * cases for that layout (plus any recorded frames), run them in the guest, and compare.
 */
import { EnvironmentError, isSigframeError, UsageError } from "../core/errors.ts";
import { type AbiBoot, type AbiTestReport, abiBoot, abiTestReport } from "../core/probe/abi-test.ts";
import type { ProbeCase } from "../core/probe/cases.ts";
import {
  decodeCpuidOutput,
  decodeFrameOutput,
  decodeProbeOutput,
  encodeCases,
} from "../core/probe/protocol.ts";
import { casesToRun, helperCapture, planProbe, probeReport } from "../core/probe/report.ts";
import { failureOf, fromRuntime, type HelperOutput, probeArgs } from "./native.ts";
import { type Accel, cacheDir, GuestSession, initramfsPath, kvmStatus, qemuVersion } from "./qemu.ts";
import { type BootImage, bootImage } from "./vmlinux.ts";

export interface AbiTestRequest {
  kernel: string;
  /** -cpu models, one boot each; default: `host` under KVM, `max` under TCG. */
  cpuModels?: string[];
  /** Recorded frames handed to the guest's sigreturn (core/probe/foreign.ts). */
  foreign?: ProbeCase[];
  accel?: "auto" | Accel;
  cases?: string[];
  /** Seconds for the kernel to reach /init. */
  bootTimeout?: number;
}

function chooseAccel(want: AbiTestRequest["accel"]): { accel: Accel; note?: string } {
  const kvm = kvmStatus();
  if (want === "tcg") return { accel: "tcg" };
  if (want === "kvm") {
    if (!kvm.ok) throw new EnvironmentError(`KVM cannot run this guest: ${kvm.reason}`, { input: "--accel" });
    return { accel: "kvm" };
  }
  return kvm.ok ? { accel: "kvm" } : { accel: "tcg", note: `TCG: ${kvm.reason}` };
}

/** A helper subcommand's stdout, or an EnvironmentError saying what went wrong in the guest. */
function checked(o: HelperOutput, what: string, kernel: string): string {
  if (o.error || o.signal || o.status !== 0)
    throw new EnvironmentError(`${what} in the guest failed: ${failureOf(o)}`, { input: kernel });
  return o.stdout;
}

async function bootOnce(
  req: AbiTestRequest,
  image: BootImage,
  initrd: string,
  accel: Accel,
  model: string,
  foreign: ProbeCase[],
  bootTimeout = req.bootTimeout ?? 120,
): Promise<AbiBoot> {
  const guest = await GuestSession.start({
    kernel: image.path,
    initrd,
    accel,
    cpuModel: model,
    bootTimeout,
  });
  try {
    const cpuidOut = checked(await guest.run(["cpuid"], "", 60_000), "cpuid", req.kernel);
    const cpuid = fromRuntime(req.kernel, () => decodeCpuidOutput(cpuidOut, "sigframe-helper cpuid (guest)"));
    const frameOut = checked(await guest.run(["frame"], "", 60_000), "frame", req.kernel);
    const frame = fromRuntime(req.kernel, () => decodeFrameOutput(frameOut, "sigframe-helper frame (guest)"));
    const capture = helperCapture(
      cpuid,
      frame,
      `qemu -cpu ${model}`,
      `captured in a ${accel} guest, -cpu ${model}`,
    );
    const plan = planProbe(capture, {
      ...(req.cases ? { cases: req.cases } : {}),
      extra: foreign,
    });
    if (accel === "tcg") {
      // TCG offers no XSAVEC; should a model claim it, the emulator still refuses the compacted form.
      for (const c of plan.cases)
        if (c.id === "compacted" && !c.skip) c.skip = "TCG does not take the compacted form";
    }
    const toRun = casesToRun(plan);
    const t0 = Date.now();
    let run: ReturnType<typeof decodeProbeOutput> | undefined;
    if (toRun.length) {
      const o = await guest.run(
        probeArgs(),
        encodeCases(toRun, plan.patterns.A),
        60_000 + toRun.length * 10_000,
      );
      const out = checked(o, "probe", req.kernel);
      run = fromRuntime(req.kernel, () => decodeProbeOutput(out, "sigframe-helper probe (guest)"));
      if (!run.complete)
        throw new EnvironmentError("the probe in the guest stopped before the end of its output", {
          input: req.kernel,
        });
    }
    const probeSeconds = (Date.now() - t0) / 1000;
    const report = probeReport(plan, run, accel === "tcg" ? { mxcsrFaults: false } : {});
    return abiBoot(model, accel, report, { boot: guest.readySeconds, probe: probeSeconds });
  } finally {
    await guest.close();
  }
}

export async function runAbiTest(req: AbiTestRequest): Promise<AbiTestReport> {
  let image: BootImage;
  try {
    image = await bootImage(req.kernel, cacheDir());
  } catch (e) {
    if (isSigframeError(e)) e.locate({ input: req.kernel });
    else if ((e as NodeJS.ErrnoException).code)
      throw new UsageError(`cannot read the kernel: ${(e as Error).message}`, { input: req.kernel });
    throw e;
  }
  const foreign = req.foreign ?? [];
  const q = qemuVersion();
  if (!q.ok) throw new EnvironmentError(q.reason, { input: "abi-test" });
  let { accel, note } = chooseAccel(req.accel);
  const models = req.cpuModels?.length ? [...req.cpuModels] : [accel === "kvm" ? "host" : "max"];
  for (const m of models) {
    if (!/^[A-Za-z0-9_.+,=-]+$/.test(m))
      throw new UsageError(`not a QEMU CPU model: ${JSON.stringify(m)}`, { input: "--cpu-model" });
  }
  const { path: initrd } = initramfsPath();
  const boots: AbiBoot[] = [];
  let first = 0;
  if (accel === "kvm" && req.accel !== "kvm") {
    // Chosen, not asked for: a KVM that does not boot the guest (nested virtualization off, a
    // hypervisor that hides what it needs) gives way to TCG. A KVM boot takes seconds.
    try {
      boots.push(
        await bootOnce(req, image, initrd, accel, models[0]!, foreign, Math.min(30, req.bootTimeout ?? 120)),
      );
      first = 1;
    } catch (e) {
      if (!isSigframeError(e) || e.kind !== "environment") throw e;
      accel = "tcg";
      note = `TCG: KVM did not boot the guest (${e.message})`;
      if (!req.cpuModels?.length) models[0] = "max";
    }
  }
  for (const model of models.slice(first))
    boots.push(await bootOnce(req, image, initrd, accel, model, foreign));
  const qemu: AbiTestReport["qemu"] = { version: q.version, accel, boot: image.how };
  if (note) qemu.accelNote = note;
  if (image.note) qemu.bootNote = image.note;
  return abiTestReport(req.kernel, qemu, boots);
}
