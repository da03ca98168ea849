/*
 * AMX for the probe and for `frame --amx`: what a task that asked for tile data
 * (arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)) and loaded tiles does with its frames,
 * and what the kernel's permission and sigaltstack checks answer.
 *
 * Probe input (inside a case, see probe.c):
 *   amx none           nothing: a task without the permission
 *   amx tiles          request permission, load tilecfg and the eight tiles, read them back
 *                      after sigreturn
 *   amx release        as tiles, then TILERELEASE before the signal (tiles in init state)
 *   amx perm           request permission only (no tile instruction runs)
 *   amx cfg            run LDTILECFG without permission (XFD arms tile data only: it runs)
 *   amx touch          as cfg, then TILEZERO, which touches tile data (#NM: SIGILL expected)
 *   amx-sas-before N   install an N-byte sigaltstack before requesting permission
 *   amx-sas-after N    try an N-byte sigaltstack after the permission
 *   amx-sas-deliver N  then deliver a signal (SA_ONSTACK) on an N-byte sigaltstack at a page
 *                      boundary: where its frame lands above ss_sp, or the task dies (SIGSEGV,
 *                      "overflowed sigaltstack"); runs on any CPU (with `amx none`)
 *   tilecfg HEX        the 64-byte tile configuration loaded by `amx tiles`
 *   tile N HEX         the 1024 bytes of tile N (16 rows of 64 bytes)
 * `tilecfg` and `tile` outside a case set what every later case loads, like the registers.
 *
 * The tile instructions appear only in inline asm and run only after CPUID and XCR0 say AMX is
 * there and the kernel granted the permission, like the vector code in regs.c.
 */
#include "helper.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

/* arch/x86/include/uapi/asm/prctl.h */
#define ARCH_GET_XCOMP_PERM 0x1022
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18
#define TILE_STRIDE 64

/* The records a case's child sends (probe.c forwards them). */
enum { REC_AMX_SETUP = 'X', REC_AMX_TILES = 'T', REC_AMX_DELIVER = 'D' };

struct amx_setup_rec {
	int32_t perm_rc, perm_errno;
	int32_t sas_before_rc, sas_before_errno;
	int32_t sas_after_rc, sas_after_errno;
};

/* `amx-sas-deliver`: the sigaltstack() call, and the delivered frame's offset above ss_sp. */
struct amx_deliver_rec {
	int32_t sas_rc, sas_errno;
	int64_t frame_offset;
};

struct amx_tiles_rec {
	uint8_t cfg[AMX_CFG_BYTES];
	uint8_t data[AMX_NTILES][AMX_TILE_BYTES];
};

int amx_usable(void)
{
	uint32_t r[4];
	cpuid_count(0, 0, r);
	if (r[0] < 7)
		return 0;
	cpuid_count(7, 0, r);
	if (!((r[3] >> 24) & 1)) /* CPUID.(7,0):EDX[24] AMX-TILE */
		return 0;
	cpuid_count(1, 0, r);
	if (!((r[2] >> 27) & 1)) /* OSXSAVE */
		return 0;
	uint64_t xcr0 = read_xgetbv(0);
	return (xcr0 & (3ull << 17)) == (3ull << 17);
}

static long request_perm(void)
{
	return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA);
}

/* ---- tile instructions ---- */

#define TLOAD(n) "tileloadd (%[base" #n "],%[stride],1), %%tmm" #n "\n\t"
#define TSTORE(n) "tilestored %%tmm" #n ", (%[base" #n "],%[stride],1)\n\t"
#define TOPS(t)                                                                                   \
	[base0] "r"(t[0]), [base1] "r"(t[1]), [base2] "r"(t[2]), [base3] "r"(t[3]), [base4] "r"(t[4]), \
	    [base5] "r"(t[5]), [base6] "r"(t[6]), [base7] "r"(t[7]), [stride] "r"((long)TILE_STRIDE)

static void tiles_load(const uint8_t *cfg, uint8_t (*t)[AMX_TILE_BYTES])
{
	__asm__ volatile("ldtilecfg (%0)" ::"r"(cfg) : "memory");
	__asm__ volatile(TLOAD(0) TLOAD(1) TLOAD(2) TLOAD(3) TLOAD(4) TLOAD(5) TLOAD(6) TLOAD(7)::TOPS(t)
			 : "memory");
}

static void tiles_store(uint8_t *cfg, uint8_t (*t)[AMX_TILE_BYTES])
{
	__asm__ volatile("sttilecfg (%0)" ::"r"(cfg) : "memory");
	if (cfg[0] == 0)
		return; /* palette 0: tiles not configured (init state); TILESTORED would raise #UD */
	__asm__ volatile(TSTORE(0) TSTORE(1) TSTORE(2) TSTORE(3) TSTORE(4) TSTORE(5) TSTORE(6) TSTORE(7)::TOPS(t)
			 : "memory");
}

/* ---- probe input ---- */

static int hexbytes(const char *s, uint8_t *out, size_t n)
{
	if (strlen(s) != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	return 0;
}

/* Tile configuration and data given outside a case: every later case that loads tiles uses them. */
static struct amx_case base;

void amx_case_init(struct amx_case *c)
{
	memset(c, 0, sizeof(*c));
	memcpy(c->cfg, base.cfg, sizeof(c->cfg));
	c->tiles = base.tiles;
}

int amx_parse(struct amx_case *c, char **a, int n)
{
	unsigned long long v;
	char *e;
	if (!c) {
		if (strcmp(a[0], "tilecfg") != 0 && strcmp(a[0], "tile") != 0)
			return 0;
		c = &base;
	}
	if (strcmp(a[0], "amx") == 0) {
		if (n != 2)
			return -1;
		if (strcmp(a[1], "none") == 0)
			c->mode = AMX_NONE;
		else if (strcmp(a[1], "tiles") == 0)
			c->mode = AMX_TILES;
		else if (strcmp(a[1], "release") == 0)
			c->mode = AMX_RELEASE;
		else if (strcmp(a[1], "perm") == 0)
			c->mode = AMX_PERM;
		else if (strcmp(a[1], "touch") == 0)
			c->mode = AMX_TOUCH;
		else if (strcmp(a[1], "cfg") == 0)
			c->mode = AMX_CFG;
		else
			return -1;
		return 1;
	}
	if (strcmp(a[0], "amx-sas-before") == 0 || strcmp(a[0], "amx-sas-after") == 0 ||
	    strcmp(a[0], "amx-sas-deliver") == 0) {
		if (n != 2)
			return -1;
		errno = 0;
		v = strtoull(a[1], &e, 0);
		if (errno || *e || v < 1 || v > AMX_SAS_MAX)
			return -1;
		if (a[0][8] == 'b')
			c->sas_before = (uint32_t)v;
		else if (a[0][8] == 'a')
			c->sas_after = (uint32_t)v;
		else
			c->sas_deliver = (uint32_t)v;
		return 1;
	}
	if (strcmp(a[0], "tilecfg") == 0) {
		if (n != 2 || hexbytes(a[1], c->cfg, AMX_CFG_BYTES) != 0)
			return -1;
		return 1;
	}
	if (strcmp(a[0], "tile") == 0) {
		errno = 0;
		if (n != 3)
			return -1;
		v = strtoull(a[1], &e, 0);
		if (errno || *e || v >= AMX_NTILES)
			return -1;
		if ((!c->tiles || (c != &base && c->tiles == base.tiles)) &&
		    !(c->tiles = calloc(AMX_NTILES, AMX_TILE_BYTES)))
			return -1;
		if (hexbytes(a[2], c->tiles[v], AMX_TILE_BYTES) != 0)
			return -1;
		return 1;
	}
	return 0;
}

/* ---- in the case's child ---- */

static uint8_t sas_buf[AMX_SAS_MAX] __attribute__((aligned(4096)));

/* Installs an n-byte sigaltstack at the start of sas_buf; returns 0 or -errno. */
static int try_sas(uint32_t n)
{
	stack_t ss = {.ss_sp = sas_buf, .ss_size = n, .ss_flags = 0};
	return sigaltstack(&ss, NULL) == 0 ? 0 : -errno;
}

/* The frame a signal on the `amx-sas-deliver` stack got (0: not delivered). */
static volatile uintptr_t deliver_frame;

static void on_deliver(int sig, siginfo_t *info, void *uc)
{
	(void)sig;
	(void)info;
	deliver_frame = (uintptr_t)uc - 8; /* the rt_sigframe starts with pretcode, 8 bytes below uc */
}

/*
 * Delivers SIGURG with SA_ONSTACK on an n-byte sigaltstack at the start of sas_buf. If the kernel
 * cannot place the frame (get_sigframe(): "overflowed sigaltstack") it forces SIGSEGV, whose
 * handler runs on the same stack and fails too: the child dies of SIGSEGV before it records.
 */
static void deliver_on_sas(uint32_t n, amx_record_fn rec)
{
	stack_t keep;
	sigaltstack(NULL, &keep);
	struct amx_deliver_rec d = {0, 0, INT64_MIN};
	int r = try_sas(n);
	if (r != 0) {
		d.sas_rc = -1;
		d.sas_errno = -r;
		rec(REC_AMX_DELIVER, &d, sizeof(d), NULL, 0);
		return;
	}
	struct sigaction sa, old;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_deliver;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGURG, &sa, &old);
	deliver_frame = 0;
	syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGURG);
	sigaction(SIGURG, &old, NULL);
	sigaltstack(&keep, NULL);
	if (deliver_frame)
		d.frame_offset = (int64_t)(deliver_frame - (uintptr_t)sas_buf);
	rec(REC_AMX_DELIVER, &d, sizeof(d), NULL, 0);
}

static struct amx_tiles_rec before_tiles __attribute__((aligned(64)));
static struct amx_tiles_rec after_tiles __attribute__((aligned(64)));

void amx_child_setup(const struct amx_case *c, amx_record_fn rec)
{
	if (c->mode == AMX_NONE && !c->sas_before && !c->sas_after && !c->sas_deliver)
		return;
	struct amx_setup_rec s = {-2, 0, -2, 0, -2, 0};
	stack_t keep;
	sigaltstack(NULL, &keep);
	if (c->sas_before) {
		int r = try_sas(c->sas_before);
		s.sas_before_rc = r == 0 ? 0 : -1;
		s.sas_before_errno = -r;
	}
	if (c->mode != AMX_NONE && c->mode != AMX_TOUCH && c->mode != AMX_CFG) {
		long r = request_perm();
		s.perm_rc = (int32_t)r;
		s.perm_errno = r == 0 ? 0 : errno;
	}
	if (c->sas_after) {
		int r = try_sas(c->sas_after);
		s.sas_after_rc = r == 0 ? 0 : -1;
		s.sas_after_errno = -r;
	}
	/* The probe's own alternate stack (for its SIGSEGV/SIGILL reports) comes back. */
	sigaltstack(&keep, NULL);
	rec(REC_AMX_SETUP, &s, sizeof(s), NULL, 0);
	if (c->mode == AMX_TOUCH || c->mode == AMX_CFG) {
		/*
		 * Without permission LDTILECFG still runs (XFD arms only XTILEDATA), the first instruction
		 * that touches tile data traps (#NM with XFD_ERR): the kernel sends SIGILL.
		 */
		memset(before_tiles.cfg, 0, sizeof(before_tiles.cfg));
		before_tiles.cfg[0] = 1;
		before_tiles.cfg[16] = TILE_STRIDE;
		before_tiles.cfg[48] = 16;
		__asm__ volatile("ldtilecfg (%0)" ::"r"(before_tiles.cfg) : "memory");
		if (c->mode == AMX_TOUCH)
			__asm__ volatile("tilezero %%tmm0" ::: "memory");
		return;
	}
	if ((c->mode == AMX_TILES || c->mode == AMX_RELEASE) && s.perm_rc == 0 && c->tiles) {
		memcpy(before_tiles.cfg, c->cfg, sizeof(before_tiles.cfg));
		memcpy(before_tiles.data, c->tiles, sizeof(before_tiles.data));
		tiles_load(before_tiles.cfg, before_tiles.data);
		if (c->mode == AMX_RELEASE)
			__asm__ volatile("tilerelease" ::: "memory");
	}
	/* After the tiles: an AMX task's frame is then as large as it gets. */
	if (c->sas_deliver)
		deliver_on_sas(c->sas_deliver, rec);
}

void amx_child_report(const struct amx_case *c, amx_record_fn rec)
{
	if (c->mode != AMX_TILES && c->mode != AMX_RELEASE)
		return;
	memset(&after_tiles, 0, sizeof(after_tiles));
	tiles_store(after_tiles.cfg, after_tiles.data);
	rec(REC_AMX_TILES, &after_tiles, sizeof(after_tiles), NULL, 0);
}

/* ---- in the parent: records to JSON members ---- */

static void json_rc(const char *name, int32_t rc, int32_t err)
{
	printf("\"%s\": ", name);
	if (rc == -2)
		printf("null");
	else if (rc == 0)
		printf("\"ok\"");
	else
		printf("\"%s\"", err == ENOSPC ? "ENOSPC" : err == ENOMEM ? "ENOMEM" : err == EPERM ? "EPERM"
			       : err == EINVAL ? "EINVAL" : err == EFAULT ? "EFAULT" : "error");
}

int amx_json(uint32_t tag, const uint8_t *p, uint32_t len)
{
	if (tag == REC_AMX_SETUP && len == sizeof(struct amx_setup_rec)) {
		struct amx_setup_rec s;
		memcpy(&s, p, sizeof(s));
		printf(", \"amx\": {");
		json_rc("perm", s.perm_rc, s.perm_errno);
		printf(", ");
		json_rc("sasBefore", s.sas_before_rc, s.sas_before_errno);
		printf(", ");
		json_rc("sasAfter", s.sas_after_rc, s.sas_after_errno);
		printf("}");
		return 1;
	}
	if (tag == REC_AMX_DELIVER && len == sizeof(struct amx_deliver_rec)) {
		struct amx_deliver_rec d;
		memcpy(&d, p, sizeof(d));
		printf(", \"sasDeliver\": {");
		json_rc("sas", d.sas_rc, d.sas_errno);
		if (d.frame_offset == INT64_MIN)
			printf(", \"frameOffset\": null}");
		else
			printf(", \"frameOffset\": %lld}", (long long)d.frame_offset);
		return 1;
	}
	if (tag == REC_AMX_TILES && len == sizeof(struct amx_tiles_rec)) {
		printf(", \"tiles\": {\"cfg\": ");
		json_hex(p, AMX_CFG_BYTES);
		printf(", \"data\": ");
		json_hex(p + AMX_CFG_BYTES, (size_t)AMX_NTILES * AMX_TILE_BYTES);
		printf("}");
		return 1;
	}
	return 0;
}

/* ---- `frame --amx`: the frame of a task that uses tiles ---- */

int amx_frame_prepare(void)
{
	if (!amx_usable()) {
		fprintf(stderr, "sigframe-helper frame --amx: this CPU or kernel has no AMX tile state\n");
		return 4;
	}
	if (request_perm() != 0) {
		fprintf(stderr, "sigframe-helper frame --amx: ARCH_REQ_XCOMP_PERM: %s\n", strerror(errno));
		return 4;
	}
	memset(&before_tiles, 0, sizeof(before_tiles));
	before_tiles.cfg[0] = 1; /* palette 1: eight tiles of 16 rows x 64 bytes */
	for (int i = 0; i < AMX_NTILES; i++) {
		before_tiles.cfg[16 + 2 * i] = TILE_STRIDE;
		before_tiles.cfg[48 + i] = 16;
		memset(before_tiles.data[i], 0x11 * (i + 1), AMX_TILE_BYTES);
	}
	tiles_load(before_tiles.cfg, before_tiles.data);
	return 0;
}
