/* The `frame` subcommand: the signal frame this kernel delivers, as the handler sees it. */
#include "helper.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

uint32_t get_u32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

uint64_t get_u64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

uint32_t fpstate_extent(const uint8_t *fp)
{
	/* _fpx_sw_bytes at 464: magic1, extended_size (arch/x86/include/uapi/asm/sigcontext.h). */
	uint32_t ext = get_u32(fp + SW_BYTES_OFFSET + 4);
	if (get_u32(fp + SW_BYTES_OFFSET) != FP_XSTATE_MAGIC1 || ext < 512)
		return 512;
	return ext;
}

uint32_t fpstate_limit(void)
{
	static uint32_t limit;
	if (limit)
		return limit;
	uint64_t want = FPSTATE_MIN_LIMIT;
	uint32_t r[4];
	cpuid_count(0, 0, r);
	if (r[0] >= 0xd) {
		cpuid_count(1, 0, r);
		if ((r[2] >> 26) & 1) { /* XSAVE */
			cpuid_count(0xd, 0, r);
			uint64_t max = ((uint64_t)r[2] + 4 + 4095) & ~4095ull; /* ECX + magic2, whole pages */
			if (max > want)
				want = max;
		}
	}
	limit = want > FPSTATE_HARD_MAX ? FPSTATE_HARD_MAX : (uint32_t)want;
	return limit;
}

/* `out` (fpstate_limit() bytes) receives the captured bytes; NULL: facts only. */
void capture_frame(struct frame_facts *f, const void *uc, const uint8_t *fp, uint8_t *out)
{
	const ucontext_t *u = uc;
	f->uc_flags = u->uc_flags;
	f->fpstate_addr = (uint64_t)(uintptr_t)fp;
	f->fpstate_offset = fp ? (int64_t)((uintptr_t)fp - (uintptr_t)uc) : 0;
	f->extent = fp ? fpstate_extent(fp) : 0;
	f->nbytes = f->extent < fpstate_limit() ? f->extent : fpstate_limit();
	if (fp && out)
		memcpy(out, fp, f->nbytes);
}

/* JSON members (no braces) describing a captured frame: facts, sw bytes, header, bytes. */
void json_frame_fields(const struct frame_facts *f, const uint8_t *b)
{
	printf("\"ucFlags\": \"0x%llx\", \"fpstateOffset\": %lld, \"fpstateAddress\": \"0x%llx\", "
	       "\"fpstateAlign\": %u",
	       (unsigned long long)f->uc_flags, (long long)f->fpstate_offset,
	       (unsigned long long)f->fpstate_addr, (unsigned)(f->fpstate_addr % 64));
	if (f->extent > f->nbytes)
		printf(", \"extent\": %u, \"truncated\": true", f->extent);
	if (f->nbytes >= 512) {
		const uint8_t *sw = b + SW_BYTES_OFFSET;
		printf(", \"sw\": {\"magic1\": \"0x%08x\", \"extendedSize\": %u, \"xfeatures\": \"0x%llx\", "
		       "\"xstateSize\": %u}",
		       get_u32(sw), get_u32(sw + 4), (unsigned long long)get_u64(sw + 8), get_u32(sw + 16));
		printf(", \"mxcsr\": \"0x%08x\", \"mxcsrMask\": \"0x%08x\"", get_u32(b + 24), get_u32(b + 28));
		uint32_t xs = get_u32(sw + 16);
		if (get_u32(sw) == FP_XSTATE_MAGIC1 && xs + 4 <= f->nbytes)
			printf(", \"magic2\": \"0x%08x\"", get_u32(b + xs));
	}
	if (f->nbytes >= XSTATE_HDR_OFFSET + 64)
		printf(", \"xstateBv\": \"0x%llx\", \"xcompBv\": \"0x%llx\"",
		       (unsigned long long)get_u64(b + XSTATE_HDR_OFFSET),
		       (unsigned long long)get_u64(b + XSTATE_HDR_OFFSET + 8));
	printf(", \"fpstate\": ");
	json_hex(b, f->nbytes);
}

static struct frame_facts captured;
static uint8_t *captured_bytes;

static void capture(int sig, siginfo_t *info, void *ctx)
{
	(void)sig;
	(void)info;
	ucontext_t *uc = ctx;
	capture_frame(&captured, uc, (const uint8_t *)uc->uc_mcontext.fpregs, captured_bytes);
}

int cmd_frame(int argc, char **argv)
{
	int amx = argc == 2 && strcmp(argv[1], "--amx") == 0;
	if (argc > 1 && !amx) {
		fprintf(stderr, "sigframe-helper frame: expected no argument or --amx\n");
		return 2;
	}
	/* --amx: the frame of a task that asked for tile data and loaded tiles (amx.c). */
	if (amx) {
		int rc = amx_frame_prepare();
		if (rc)
			return rc;
	}
	captured_bytes = malloc(fpstate_limit());
	if (!captured_bytes) {
		fprintf(stderr, "sigframe-helper frame: out of memory\n");
		return 1;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = capture;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) != 0) {
		perror("sigframe-helper frame: sigaction");
		return 1;
	}
	syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR1);
	if (captured.nbytes == 0) {
		fprintf(stderr, "sigframe-helper frame: the handler saw no fpstate\n");
		return 1;
	}
	printf("{\n  \"helper\": \"sigframe-helper\",\n  \"protocol\": %d,\n  \"signal\": \"SIGUSR1\",\n  ",
	       HELPER_PROTOCOL);
	json_frame_fields(&captured, captured_bytes);
	printf("\n}\n");
	return 0;
}
