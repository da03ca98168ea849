/**
 * Signal stacks after a move: how much stack a signal frame takes on each host, and which
 * sigaltstacks sized on A cannot hold B's frame (a signal delivered on such a stack kills the
 * process: get_sigframe() finds the frame below ss_sp, "overflowed sigaltstack", SIGSEGV).
 *
 * Between profiles the sizes a program on A may have chosen are weighed: sysconf(_SC_MINSIGSTKSZ)
 * = A's AT_MINSIGSTKSZ plus its handler's need, SIGSTKSZ (8192, the old constant) and glibc's
 * sysconf(_SC_SIGSTKSZ) = max(8192, 4 × AT_MINSIGSTKSZ) (glibc 2.34+,
 * sysdeps/unix/sysv/linux/sysconf-sigstksz.h). With a checkpoint, each thread's own sigaltstack
 * (CRIU core-*.img thread_core.sas) is placed exactly as the kernel would place B's frame on it.
 */
import { hasBit, hex } from "../hex.ts";
import {
  altstackDelivery,
  MINSIGSTKSZ,
  maxFrameStackBytes,
  minSigStkSz,
  permissionAltstackMinimum,
  SIGSTKSZ,
  sigaltstackMinimum,
} from "../sigframe/stack.ts";
import { FP_XSTATE_MAGIC2_SIZE, XFEATURE } from "../xsave/components.ts";
import type { XsaveLayout } from "../xsave/layout.ts";
import { type Finding, finding } from "./findings.ts";

/** A thread's sigaltstack as a checkpoint records it. */
export interface ThreadAltstack {
  /** How the thread is named in messages (`pid 1234 tid 1235`, `thread 2`). */
  thread: string;
  sp: bigint;
  size: bigint;
  flags: number;
}

/** SS_DISABLE (include/uapi/linux/signal.h): no alternate stack. */
const SS_DISABLE = 2;

/** What a signal frame of a 64-bit task needs on one host. */
export interface FrameStack {
  /** xstate_size of the frames its tasks get (user_size). */
  xstateSize: number;
  /** The most stack one frame takes, every alignment at its worst. */
  frameBytes: number;
  /** The kernel's AT_MINSIGSTKSZ for the host (every feature, AMX included). */
  atMinSigStkSz: number;
}

function extendedSize(l: XsaveLayout, userSize: number): number {
  return l.xsave ? userSize + FP_XSTATE_MAGIC2_SIZE : userSize;
}

/** The frame sizes of a task with layout `task` on host `host` (the host's AT_MINSIGSTKSZ). */
export function frameStack(task: XsaveLayout, host: XsaveLayout = task): FrameStack {
  return {
    xstateSize: task.userSize,
    frameBytes: maxFrameStackBytes(extendedSize(task, task.userSize)),
    atMinSigStkSz: minSigStkSz(host),
  };
}

/**
 * The task the process becomes on B: with tile data in B's task features (check --amx: the
 * restorer requests the permission again) an AMX task, else one with the default user_size (the
 * permission is not restored).
 */
function destinationTask(to: XsaveLayout): { userSize: number; amx: boolean } {
  return { userSize: to.userSize, amx: hasBit(to.userFeatures, XFEATURE.XTILEDATA) };
}

/**
 * The fixed sigaltstack sizes a program on A may have chosen: SIGSTKSZ, the old constant, and
 * glibc's sysconf(_SC_SIGSTKSZ) (4 × max(AT_MINSIGSTKSZ, MINSIGSTKSZ), at least SIGSTKSZ).
 */
function fixedSizes(from: XsaveLayout): { size: number; what: string }[] {
  const dynamic = Math.max(SIGSTKSZ, 4 * Math.max(minSigStkSz(from), MINSIGSTKSZ));
  return [
    { size: SIGSTKSZ, what: "SIGSTKSZ (8192)" },
    { size: dynamic, what: `glibc's sysconf(_SC_SIGSTKSZ) (${dynamic})` },
  ];
}

/** Sigaltstacks sized on A that B's frame overflows: between profiles, and per checkpoint thread. */
export function sigaltstackFindings(
  from: XsaveLayout,
  to: XsaveLayout,
  names: { from: string; to: string },
  altstacks?: readonly ThreadAltstack[],
): Finding[] {
  if (!to.xsave && !from.xsave) return [];
  const A = names.from;
  const B = names.to;
  const dest = destinationTask(to);
  const extA = extendedSize(from, from.userSize);
  const extB = extendedSize(to, dest.userSize);
  const frameA = maxFrameStackBytes(extA);
  const frameB = maxFrameStackBytes(extB);
  const amxWords = dest.amx ? ", an AMX task" : "";
  const needPerm = dest.amx ? permissionAltstackMinimum(to, to.userSize) : 0;
  const afterPerm = dest.amx ? sigaltstackMinimum(to, to.userSize) : 0;
  const out: Finding[] = [];
  if (altstacks) {
    for (const t of altstacks) {
      if (t.flags & SS_DISABLE || t.size === 0n) continue;
      const onA = altstackDelivery(t.sp, t.size, extA);
      const onB = altstackDelivery(t.sp, t.size, extB);
      if (dest.amx && t.size < BigInt(needPerm)) {
        // The kernel never lets an AMX task keep a sigaltstack its frame overflows: with the stack
        // in place the request fails (validate_sigaltstack()), with the permission granted
        // sigaltstack() refuses it (sigaltstack_size_valid()); measured on a host with AMX by the
        // probe's amx-sigaltstack-* cases. Which one the restore meets depends on its order.
        const accepted = t.size >= BigInt(afterPerm);
        out.push(
          finding("sigaltstack_too_small", {
            severity: accepted ? "warning" : "error",
            message: accepted
              ? `${t.thread}: its sigaltstack ${hex(t.sp)}+${t.size} is smaller than the ${needPerm} bytes validate_sigaltstack() wants on ${B}: requesting AMX permission there while it is installed fails (ARCH_REQ_XCOMP_PERM: -ENOSPC); a restorer that requests the permission first and then restores the sigaltstack succeeds (sigaltstack() takes more than ${afterPerm - 1} bytes then)`
              : `${t.thread}: its sigaltstack ${hex(t.sp)}+${t.size} cannot coexist with AMX permission on ${B}: installed first, ARCH_REQ_XCOMP_PERM fails (-ENOSPC: validate_sigaltstack() wants ${needPerm} bytes); with the permission granted, sigaltstack() refuses it (-ENOMEM: sigaltstack_size_valid() wants more than ${afterPerm - 1}). The restore fails, or the thread runs without its sigaltstack or without AMX (a tile instruction then raises SIGILL)`,
            from: { size: Number(t.size) },
            to: { size: accepted ? needPerm : afterPerm },
          }),
        );
        // The kernel refuses the combination, so the AMX frame never lands on this stack.
        if (!accepted) continue;
      }
      if (onB.fits || !onA.fits) continue;
      out.push(
        finding("sigaltstack_too_small", {
          severity: "error",
          message: `${t.thread}: its sigaltstack ${hex(t.sp)}+${t.size} holds ${A}'s frame (${onA.frameBytes} bytes there) but not ${B}'s (${onB.frameBytes} bytes${amxWords}): a signal delivered on it kills the process (SIGSEGV, "overflowed sigaltstack")`,
          from: { size: onA.frameBytes },
          to: { size: onB.frameBytes },
        }),
      );
    }
    return out;
  }
  if (frameB <= frameA) return out;
  const parts: string[] = [];
  // AT_MINSIGSTKSZ is what the kernel promises one frame needs; a program adds its handler's own
  // stack to it. Where B's frame is larger, that handler has less than it was given on A. glibc
  // caches AT_MINSIGSTKSZ at start-up (GLRO(dl_minsigstacksize)), so sysconf() keeps answering
  // A's sizes after the restore, for stacks the process installs later too.
  const atMinA = minSigStkSz(from);
  const fixed = fixedSizes(from);
  // An AMX task on B accepts no sigaltstack below afterPerm (sigaltstack_size_valid(), -ENOMEM)
  // and cannot get the permission with one below needPerm installed (validate_sigaltstack(),
  // -ENOSPC): such sizes are refused before a frame could overflow them.
  const refusedBelow = dest.amx ? afterPerm : 0;
  if (frameB > atMinA && atMinA < refusedBelow)
    parts.push(
      `a sigaltstack sized on ${A} as sysconf(_SC_MINSIGSTKSZ) (${A}'s AT_MINSIGSTKSZ, ${atMinA}) plus what the handler needs is refused on ${B} unless it comes to more than ${afterPerm - 1} bytes (an AMX task: sigaltstack() -ENOMEM with the permission, ARCH_REQ_XCOMP_PERM -ENOSPC below ${needPerm} without it)`,
    );
  else if (frameB > atMinA)
    parts.push(
      `a sigaltstack sized on ${A} as sysconf(_SC_MINSIGSTKSZ) (${A}'s AT_MINSIGSTKSZ, ${atMinA}) plus what the handler needs leaves the handler up to ${frameB - atMinA} bytes short on ${B}, whose frame takes up to ${frameB} bytes${amxWords} (${frameA} on ${A})`,
    );
  const refused = fixed.filter((c) => c.size < refusedBelow);
  if (refused.length)
    parts.push(
      `a sigaltstack of ${refused.map((c) => c.what).join(" or ")} bytes cannot coexist with AMX permission on ${B}: sigaltstack() refuses it once the permission is granted (-ENOMEM: sigaltstack_size_valid() wants more than ${afterPerm - 1}), and installed first it makes ARCH_REQ_XCOMP_PERM fail (-ENOSPC: validate_sigaltstack() wants ${needPerm})`,
    );
  const broken = fixed.filter((c) => c.size >= refusedBelow && c.size >= frameA && c.size < frameB);
  if (broken.length)
    parts.push(
      `a sigaltstack of ${broken.map((c) => c.what).join(" or ")} bytes cannot hold ${B}'s frame: a signal delivered on it kills the process (SIGSEGV, "overflowed sigaltstack")`,
    );
  const noPerm = dest.amx ? fixed.filter((c) => c.size >= refusedBelow && c.size < needPerm) : [];
  if (noPerm.length)
    parts.push(
      `with a sigaltstack of ${noPerm.map((c) => c.what).join(" or ")} bytes installed, ARCH_REQ_XCOMP_PERM fails on ${B} (-ENOSPC: validate_sigaltstack() wants ${needPerm}); requested before the sigaltstack, the permission is granted`,
    );
  if (parts.length === 0) return out;
  // A fixed size that cannot hold the frame is a death; a handler that gets less room than it
  // was sized for may or may not need it (info).
  out.push(
    finding("sigaltstack_too_small", {
      severity: broken.length || refused.length || noPerm.length ? "warning" : "info",
      message: parts.join("; "),
      from: { size: frameA },
      to: { size: frameB },
    }),
  );
  return out;
}
