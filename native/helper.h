/*
 * sigframe-helper: the small native part of sigframe. It does what a Node process cannot:
 * execute CPUID/XGETBV/FXSAVE, look at the signal frame the kernel delivers, and run frame
 * experiments (probe) in forked children. Every subcommand writes one JSON document on stdout.
 *
 * Built with plain `cc -O1` (no -mavx flags): vector instructions appear only inside inline
 * asm, and each variant runs only after CPUID and XCR0 say the CPU and the OS support it.
 */
#ifndef SIGFRAME_HELPER_H
#define SIGFRAME_HELPER_H

#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define HELPER_PROTOCOL 1

/* ---- CPU facts (cpu.c) ---- */

enum isa { ISA_SSE = 0, ISA_AVX = 1, ISA_AVX512 = 2 };

struct cpu_caps {
	uint32_t max_leaf;
	int xsave, osxsave, avx, avx512f, avx512bw, xgetbv1, xsavec;
	uint64_t xcr0;      /* 0 when XGETBV is not usable (no OSXSAVE) */
	enum isa isa;       /* widest register set the probe can load and read back */
};

void cpuid_count(uint32_t leaf, uint32_t sub, uint32_t r[4]);
uint64_t read_xgetbv(uint32_t index);
uint32_t fxsave_mxcsr_mask(void);
void detect_caps(struct cpu_caps *c);
const char *isa_name(enum isa i);

/* ---- register images (regs.c) ---- */

#define NVEC 32
#define VEC_BYTES 64
#define K_OFFSET (NVEC * VEC_BYTES)      /* 2048 */
#define MXCSR_OFFSET (K_OFFSET + 8 * 8)  /* 2112 */

/*
 * Every vector register as 64 bytes (xmm/ymm use the low 16/32), k0-7, MXCSR. The layout is
 * fixed so that the asm can address it with constant displacements.
 */
struct regimage {
	uint8_t v[NVEC][VEC_BYTES];
	uint64_t k[8];
	uint32_t mxcsr;
	uint32_t pad[15];
} __attribute__((aligned(64)));

/*
 * Loads `in` into the registers of `isa`, sends `sig` to this thread with a raw tgkill syscall
 * (so the signal is delivered on return from that instruction), and, in the same asm block,
 * stores the registers to `out` right after sigreturn brought the thread back.
 */
void regs_signal_roundtrip(enum isa isa, int kmov64, const struct regimage *in, struct regimage *out,
			   int sig);

/* ---- frames (frame.c) ---- */

#define FPSTATE_MAX 65536 /* largest fpstate copied anywhere (AMX frames are ~11 KiB) */
#define SW_BYTES_OFFSET 464
#define XSTATE_HDR_OFFSET 512
#define FP_XSTATE_MAGIC1 0x46505853u
#define FP_XSTATE_MAGIC2 0x46505845u

/* What a handler sees of its own frame. */
struct frame_facts {
	uint64_t uc_flags;
	int64_t fpstate_offset; /* fpstate - ucontext */
	uint64_t fpstate_addr;
	uint32_t nbytes;        /* bytes of fpstate captured */
};

/* Bytes of the fpstate at `fp` that the kernel wrote: extended_size with magic1, else 512. */
uint32_t fpstate_extent(const uint8_t *fp);
uint32_t get_u32(const uint8_t *p);
uint64_t get_u64(const uint8_t *p);
void json_frame_fields(const struct frame_facts *f, const uint8_t *bytes);

/* ---- JSON output (main.c) ---- */

void json_hex(const uint8_t *p, size_t n);
void json_str(const char *s);

int cmd_cpuid(int argc, char **argv);
int cmd_frame(int argc, char **argv);
int cmd_probe(int argc, char **argv);

#endif
