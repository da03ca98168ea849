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

/*
 * 2: `probe` prints one JSON object per line (a header, a "start" line before each case, the
 * case's result, a "done" line), so a runtime that dies part-way still leaves every finished case
 * readable; cases may share registers and write blocks (see probe.c).
 */
#define HELPER_PROTOCOL 2

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

/*
 * Bounds of the fpstate the helper captures and edits: at least 64 KiB, more where CPUID(0xD,0).ECX
 * (the XSAVE area for every component this CPU supports, AMX tile data included) says so, never
 * more than FPSTATE_HARD_MAX. fpstate_limit() is computed once from CPUID.
 */
#define FPSTATE_MIN_LIMIT 65536
#define FPSTATE_HARD_MAX (1u << 20)
uint32_t fpstate_limit(void);
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
	uint32_t extent;        /* bytes the frame claims (fpstate_extent()); > nbytes: truncated */
};

/*
 * Bytes of the fpstate at `fp` that the kernel (or a runtime) wrote: extended_size with magic1,
 * else 512. Not bounded: callers capture at most fpstate_limit() of it.
 */
uint32_t fpstate_extent(const uint8_t *fp);
/* Fills `f` for the frame at `fp` (may be NULL) of ucontext `uc`, and copies the captured bytes. */
void capture_frame(struct frame_facts *f, const void *uc, const uint8_t *fp, uint8_t *out);
uint32_t get_u32(const uint8_t *p);
uint64_t get_u64(const uint8_t *p);
void json_frame_fields(const struct frame_facts *f, const uint8_t *bytes);

/* ---- AMX (amx.c) ---- */

#define AMX_CFG_BYTES 64
#define AMX_NTILES 8
#define AMX_TILE_BYTES 1024
#define AMX_SAS_MAX 65536

enum amx_mode { AMX_NONE = 0, AMX_TILES, AMX_RELEASE, AMX_PERM, AMX_CFG, AMX_TOUCH };

/* A probe case's AMX setup (the `amx`, `amx-sas-*`, `tilecfg` and `tile` input lines). */
struct amx_case {
	enum amx_mode mode;
	uint32_t sas_before, sas_after; /* sigaltstack sizes tried around the permission request */
	uint32_t sas_deliver;           /* a signal delivered on a sigaltstack of this size, after the rest */
	uint8_t cfg[AMX_CFG_BYTES];
	uint8_t (*tiles)[AMX_TILE_BYTES]; /* AMX_NTILES tiles, allocated by the first `tile` line */
};

typedef void (*amx_record_fn)(uint32_t tag, const void *a, size_t na, const void *b, size_t nb);

int amx_usable(void);
/* A case's AMX setup at `case`: no AMX, the tiles given outside a case. */
void amx_case_init(struct amx_case *c);
/* 1: the line was an AMX keyword and is stored; 0: not an AMX keyword; -1: malformed. */
int amx_parse(struct amx_case *c, char **a, int n);
/* In the case's child: before the signal (permission, sigaltstacks, tiles), after sigreturn (tiles). */
void amx_child_setup(const struct amx_case *c, amx_record_fn rec);
void amx_child_report(const struct amx_case *c, amx_record_fn rec);
/* In the parent: prints an AMX record as JSON members; 0 when the tag is not AMX's. */
int amx_json(uint32_t tag, const uint8_t *p, uint32_t len);
/* `frame --amx`: request the permission and load tiles; 0, or an exit code. */
int amx_frame_prepare(void);

/* ---- JSON output (main.c) ---- */

void json_hex(const uint8_t *p, size_t n);
void json_str(const char *s);

/* The subcommands by name (main.c); `init` calls it for each command from the host. */
int helper_main(int argc, char **argv);
int cmd_cpuid(int argc, char **argv);
int cmd_frame(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_init(int argc, char **argv);

#endif
