/*
 * The `probe` subcommand: hand modified signal frames to the running kernel (or to whatever
 * Linux-ABI runtime runs this helper) and report what rt_sigreturn did with them. The cases come
 * on stdin (the TypeScript side computes them from the CPU's layout); each one runs in its own
 * forked child:
 *
 *   1. the child loads the case's register values (xmm/ymm/zmm, k0-7, MXCSR) and sends itself
 *      SIGUSR1 (regs.c);
 *   2. the handler reports the frame as delivered, then edits it: copies it elsewhere (64-byte
 *      aligned or not, or ending right before a PROT_NONE page) or leaves it in place, writes
 *      the case's bytes, optionally takes a nested SIGUSR2, or sets the fpstate pointer to NULL;
 *   3. after sigreturn the registers are stored at once and reported; a SIGSEGV from
 *      sigreturn is reported (si_code) and then kills the child.
 *
 * Reports go to the parent through a pipe as tagged records; the child's stderr goes through a
 * second pipe (an emulator that aborts inside the child says why there). The parent enforces a
 * timeout, reaps every child and prints one JSON object per line, flushed as it goes: a runtime
 * that dies part-way leaves every finished case, and the "start" line names the one it died in.
 * Core dumps are off for the whole process.
 *
 * Frames of any size up to fpstate_limit() are captured and edited: the architectural maximum of
 * this CPU's XSAVE area (AMX tile data included), at least 64 KiB. A case that cannot be applied
 * to the frame the runtime delivered (a write past the frame's end in place) is reported as
 * skipped, with the reason, instead of running half-edited.
 *
 * Input (one line each; hex in memory order):
 *   zmm N HEX64        vector register N (the low 16/32 bytes for xmm/ymm)  \  outside a case:
 *   k N VALUE          opmask value (hex)                                    > every later case
 *   mxcsr VALUE        MXCSR (hex)                                          /  starts from these
 *   def NAME           a named block of `write` lines, up to `enddef`
 *   case ID
 *   place inplace | copy ALIGN | guard READABLE | null
 *   copylen N          bytes of the delivered frame copied (copy/guard); default: its extent
 *   nested             raise SIGUSR2 inside the handler after the writes
 *   write OFFSET HEX   bytes written at fpstate+OFFSET (in the frame or the copy)
 *   use NAME           the writes of block NAME, in order
 *   amx …, tilecfg HEX, tile N HEX   AMX setup of the case (amx.c)
 *   end
 *
 * Output lines:
 *   {"helper": "sigframe-helper", "protocol": 2, "isa", "kBits", "xcr0", "fpstateLimit", "cases"}
 *   {"start": ID}
 *   {"id": ID, "delivered"?, "placed"?, "inner"?, "regs"?, "fault"?, "error"?, "skip"?, "stderr"?,
 *    "outcome": "returned|killed|exited|timeout|skipped", "signal"? | "exitCode"?}
 *   {"done": N}
 *
 * Options: --timeout-ms N (per case, default 5000); --isa sse|avx|avx512 caps the register set.
 */
#include "helper.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define MAX_CASES 512
#define MAX_WRITES 128
#define MAX_BLOCKS 64
#define MAX_WRITE_BYTES 4096
#define MAX_STDERR 4096
#define PAGE 4096

enum place { PLACE_INPLACE, PLACE_COPY, PLACE_GUARD, PLACE_NULL };

struct write_op {
	uint32_t off, len;
	const uint8_t *bytes;
};

struct write_block {
	char name[32];
	int nwrites;
	struct write_op writes[MAX_WRITES];
};

struct probe_case {
	char id[64];
	struct regimage regs;
	enum place place;
	uint32_t align;    /* PLACE_COPY: offset of the fpstate from a page boundary */
	uint32_t readable; /* PLACE_GUARD: bytes mapped from the fpstate up to the PROT_NONE page */
	int64_t copylen;   /* -1: the delivered frame's extent */
	int nested;
	int nwrites;
	struct write_op writes[MAX_WRITES];
	struct amx_case amx; /* amx.c */
};

/* The relocation area: a frame of fpstate_limit() bytes at any offset in a page, then a guard page. */
static uint32_t reloc_size(void)
{
	return fpstate_limit() + PAGE;
}

/* ---- records from the child ---- */

enum {
	REC_DELIVERED = 'D',
	REC_PLACED = 'P',
	REC_INNER = 'I',
	REC_REGS = 'R',
	REC_FAULT = 'S',
	REC_ERROR = 'E',
	REC_SKIP = 'K',
};

struct rec_hdr {
	uint32_t tag, len;
};
struct placed {
	uint64_t addr;
	uint32_t readable, nbytes;
};
struct inner {
	struct frame_facts f;
	uint32_t outer_intact;
};
struct fault {
	int32_t signo, si_code;
	uint64_t addr;
};

/* ---- child state (used by the signal handlers) ---- */

static const struct probe_case *cur;
static int report_fd = -1;
static uint8_t *reloc;
static struct frame_facts inner_facts;
static uint8_t *inner_bytes, *snapshot;
static struct regimage after;
static uint8_t altstack[256 * 1024] __attribute__((aligned(64)));

static void put_all(const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n > 0) {
		ssize_t w = write(report_fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			_exit(71);
		b += w;
		n -= (size_t)w;
	}
}

static void record(uint32_t tag, const void *a, size_t na, const void *b, size_t nb)
{
	struct rec_hdr h = {tag, (uint32_t)(na + nb)};
	put_all(&h, sizeof(h));
	if (na)
		put_all(a, na);
	if (nb)
		put_all(b, nb);
}

static void fail(const char *msg)
{
	record(REC_ERROR, msg, strlen(msg), NULL, 0);
	_exit(70);
}

/* The case cannot be applied to this frame: say why and leave without a sigreturn. */
static void skip(const char *msg)
{
	record(REC_SKIP, msg, strlen(msg), NULL, 0);
	_exit(0);
}

static void on_inner(int sig, siginfo_t *info, void *ctx)
{
	(void)sig;
	(void)info;
	ucontext_t *uc = ctx;
	capture_frame(&inner_facts, uc, (const uint8_t *)uc->uc_mcontext.fpregs, inner_bytes);
}

static void on_signal(int sig, siginfo_t *info, void *ctx)
{
	(void)sig;
	(void)info;
	ucontext_t *uc = ctx;
	uint8_t *fp = (uint8_t *)uc->uc_mcontext.fpregs;
	if (!fp)
		fail("the signal frame has no fpstate (uc_mcontext.fpregs is NULL)");
	struct frame_facts f;
	capture_frame(&f, uc, fp, NULL);
	record(REC_DELIVERED, &f, sizeof(f), fp, f.nbytes);
	if (f.extent > f.nbytes)
		skip("the delivered frame claims more bytes (extended_size) than the helper captures");

	/* Where the fpstate will be at sigreturn, and how many bytes may be written there. */
	uint8_t *target = fp;
	uint32_t limit = f.nbytes, end = f.nbytes;
	if (cur->place == PLACE_COPY || cur->place == PLACE_GUARD) {
		if (cur->place == PLACE_COPY) {
			target = reloc + cur->align;
			limit = reloc_size() - cur->align;
		} else {
			target = reloc + reloc_size() - cur->readable;
			limit = cur->readable;
		}
		uint32_t n = cur->copylen < 0 ? f.nbytes : (uint32_t)cur->copylen;
		if (n > f.nbytes)
			n = f.nbytes;
		if (n > limit)
			n = limit;
		memcpy(target, fp, n);
		end = n;
	}
	for (int i = 0; i < cur->nwrites; i++) {
		const struct write_op *w = &cur->writes[i];
		/* In place, only the frame's own bytes: past them lies the interrupted code's stack. */
		if ((uint64_t)w->off + w->len > limit)
			skip(cur->place == PLACE_INPLACE ? "a write lies past the end of the delivered frame"
							 : "a write lies past the mapped copy");
	}
	for (int i = 0; i < cur->nwrites; i++) {
		const struct write_op *w = &cur->writes[i];
		memcpy(target + w->off, w->bytes, w->len);
		if (w->off + w->len > end)
			end = w->off + w->len;
	}
	if (cur->place == PLACE_NULL) {
		struct placed p = {0, 0, 0};
		record(REC_PLACED, &p, sizeof(p), NULL, 0);
	} else {
		struct placed p = {(uint64_t)(uintptr_t)target, limit, end};
		record(REC_PLACED, &p, sizeof(p), target, end);
	}
	if (cur->nested) {
		memcpy(snapshot, target, end);
		syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR2);
		struct inner in = {inner_facts, memcmp(snapshot, target, end) == 0};
		record(REC_INNER, &in, sizeof(in), inner_bytes, inner_facts.nbytes);
	}
	uc->uc_mcontext.fpregs = cur->place == PLACE_NULL ? NULL : (void *)target;
}

static void on_fault(int sig, siginfo_t *info, void *ctx)
{
	(void)ctx;
	struct fault f = {sig, info->si_code, (uint64_t)(uintptr_t)info->si_addr};
	record(REC_FAULT, &f, sizeof(f), NULL, 0);
	/* SA_RESETHAND restored the default action: die of this signal. */
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, sig);
	sigprocmask(SIG_UNBLOCK, &s, NULL);
	raise(sig);
	_exit(72);
}

static void handle(int sig, void (*fn)(int, siginfo_t *, void *), int flags)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = fn;
	sa.sa_flags = SA_SIGINFO | flags;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL) != 0)
		fail("sigaction failed");
}

static void run_child(const struct probe_case *c, int fd, int errfd, const struct cpu_caps *caps, pid_t parent)
{
	report_fd = fd;
	cur = c;
	if (dup2(errfd, 2) < 0)
		fail("cannot redirect stderr");
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(73);
	alarm(10); /* a backstop; the parent kills sooner */

	reloc = mmap(NULL, reloc_size() + PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (reloc == MAP_FAILED || mprotect(reloc + reloc_size(), PAGE, PROT_NONE) != 0)
		fail("cannot map the relocation area");
	inner_bytes = malloc(fpstate_limit());
	snapshot = malloc(reloc_size());
	if (!inner_bytes || !snapshot)
		fail("out of memory");
	stack_t ss = {.ss_sp = altstack, .ss_size = sizeof(altstack), .ss_flags = 0};
	if (sigaltstack(&ss, NULL) != 0)
		fail("sigaltstack failed");
	handle(SIGUSR1, on_signal, 0);
	handle(SIGUSR2, on_inner, 0);
	handle(SIGSEGV, on_fault, SA_ONSTACK | SA_RESETHAND);
	handle(SIGBUS, on_fault, SA_ONSTACK | SA_RESETHAND);
	handle(SIGILL, on_fault, SA_ONSTACK | SA_RESETHAND);

	amx_child_setup(&c->amx, record);
	memset(&after, 0, sizeof(after));
	regs_signal_roundtrip(caps->isa, caps->avx512bw, &c->regs, &after, SIGUSR1);
	amx_child_report(&c->amx, record);
	record(REC_REGS, &after, sizeof(after), NULL, 0);
	_exit(0);
}

/* ---- parent ---- */

static const char *signame(int s)
{
	switch (s) {
	case SIGSEGV: return "SIGSEGV";
	case SIGBUS: return "SIGBUS";
	case SIGILL: return "SIGILL";
	case SIGKILL: return "SIGKILL";
	case SIGALRM: return "SIGALRM";
	case SIGABRT: return "SIGABRT";
	case SIGFPE: return "SIGFPE";
	case SIGTRAP: return "SIGTRAP";
	case SIGSYS: return "SIGSYS";
	default: return "other";
	}
}

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void print_regs(const struct regimage *r, const struct cpu_caps *caps)
{
	int n = caps->isa == ISA_AVX512 ? 32 : 16;
	int w = caps->isa == ISA_AVX512 ? 64 : caps->isa == ISA_AVX ? 32 : 16;
	printf("{\"v\": [");
	for (int i = 0; i < n; i++) {
		printf(i ? ", " : "");
		json_hex(r->v[i], (size_t)w);
	}
	printf("], \"k\": [");
	for (int i = 0; caps->isa == ISA_AVX512 && i < 8; i++)
		printf("%s\"0x%llx\"", i ? ", " : "", (unsigned long long)r->k[i]);
	printf("], \"mxcsr\": \"0x%08x\"}", r->mxcsr);
}

static void json_text(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);
	if (!s)
		return;
	memcpy(s, p, n);
	s[n] = 0;
	json_str(s);
	free(s);
}

/* One line: the case's records, then how the child ended. */
static void report_case(const struct probe_case *c, const struct cpu_caps *caps, const uint8_t *buf,
			size_t len, const uint8_t *err, size_t errlen, int status, int timed_out)
{
	printf("{\"id\": ");
	json_str(c->id);
	int have_regs = 0, skipped = 0;
	for (size_t off = 0; off + sizeof(struct rec_hdr) <= len;) {
		struct rec_hdr h;
		memcpy(&h, buf + off, sizeof(h));
		const uint8_t *p = buf + off + sizeof(h);
		if (off + sizeof(h) + h.len > len)
			break;
		if (h.tag == REC_DELIVERED && h.len >= sizeof(struct frame_facts)) {
			struct frame_facts f;
			memcpy(&f, p, sizeof(f));
			printf(", \"delivered\": {");
			json_frame_fields(&f, p + sizeof(f));
			printf("}");
		} else if (h.tag == REC_INNER && h.len >= sizeof(struct inner)) {
			struct inner in;
			memcpy(&in, p, sizeof(in));
			printf(", \"inner\": {\"outerIntact\": %s, ", in.outer_intact ? "true" : "false");
			json_frame_fields(&in.f, p + sizeof(in));
			printf("}");
		} else if (h.tag == REC_PLACED && h.len >= sizeof(struct placed)) {
			struct placed pl;
			memcpy(&pl, p, sizeof(pl));
			printf(", \"placed\": {\"address\": \"0x%llx\", \"readable\": %u, \"fpstate\": ",
			       (unsigned long long)pl.addr, pl.readable);
			json_hex(p + sizeof(pl), pl.nbytes);
			printf("}");
		} else if (h.tag == REC_REGS && h.len == sizeof(struct regimage)) {
			struct regimage r;
			memcpy(&r, p, sizeof(r));
			printf(", \"regs\": ");
			print_regs(&r, caps);
			have_regs = 1;
		} else if (h.tag == REC_FAULT && h.len == sizeof(struct fault)) {
			struct fault f;
			memcpy(&f, p, sizeof(f));
			printf(", \"fault\": {\"signal\": \"%s\", \"siCode\": %d, \"siAddr\": \"0x%llx\"}",
			       signame(f.signo), f.si_code, (unsigned long long)f.addr);
		} else if (amx_json(h.tag, p, h.len)) {
		} else if (h.tag == REC_ERROR || h.tag == REC_SKIP) {
			printf(h.tag == REC_ERROR ? ", \"error\": " : ", \"skip\": ");
			json_text(p, h.len < 256 ? h.len : 256);
			skipped |= h.tag == REC_SKIP;
		}
		off += sizeof(h) + h.len;
	}
	if (errlen) {
		printf(", \"stderr\": ");
		json_text(err, errlen);
	}
	const char *outcome;
	if (timed_out)
		outcome = "timeout";
	else if (WIFSIGNALED(status))
		outcome = "killed";
	else if (skipped && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		outcome = "skipped";
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && have_regs)
		outcome = "returned";
	else
		outcome = "exited";
	printf(", \"outcome\": \"%s\"", outcome);
	if (WIFSIGNALED(status))
		printf(", \"signal\": \"%s\", \"signalNumber\": %d", signame(WTERMSIG(status)), WTERMSIG(status));
	else if (WIFEXITED(status))
		printf(", \"exitCode\": %d", WEXITSTATUS(status));
	printf("}\n");
}

static void run_case(const struct probe_case *c, const struct cpu_caps *caps, int timeout_ms)
{
	int pfd[2], efd[2];
	if (pipe2(pfd, O_CLOEXEC) != 0 || pipe2(efd, O_CLOEXEC) != 0) {
		perror("sigframe-helper probe: pipe");
		exit(1);
	}
	printf("{\"start\": ");
	json_str(c->id);
	printf("}\n");
	fflush(stdout);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		perror("sigframe-helper probe: fork");
		exit(1);
	}
	if (pid == 0) {
		close(pfd[0]);
		close(efd[0]);
		run_child(c, pfd[1], efd[1], caps, parent);
	}
	close(pfd[1]);
	close(efd[1]);

	size_t cap = 1 << 16, len = 0, errlen = 0;
	uint8_t *buf = malloc(cap), err[MAX_STDERR];
	int timed_out = 0, open_fds = 2;
	struct pollfd p[2] = {{pfd[0], POLLIN, 0}, {efd[0], POLLIN, 0}};
	double deadline = now_ms() + timeout_ms;
	while (open_fds > 0 && buf) {
		double left = deadline - now_ms();
		if (left <= 0) {
			timed_out = 1;
			break;
		}
		int r = poll(p, 2, (int)left + 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			continue;
		if (p[0].revents) {
			if (len == cap) {
				if (cap >= (64u << 20))
					break; /* more than any case can legitimately report */
				cap *= 2;
				uint8_t *nb = realloc(buf, cap);
				if (!nb)
					break;
				buf = nb;
			}
			ssize_t n = read(pfd[0], buf + len, cap - len);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				p[0].fd = -1;
				open_fds--;
			} else {
				len += (size_t)n;
			}
		}
		if (p[1].revents) {
			uint8_t sink[512];
			ssize_t n = read(efd[0], sink, sizeof(sink));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				p[1].fd = -1;
				open_fds--;
			} else {
				size_t keep = (size_t)n < MAX_STDERR - errlen ? (size_t)n : MAX_STDERR - errlen;
				memcpy(err + errlen, sink, keep);
				errlen += keep;
			}
		}
	}
	close(pfd[0]);
	close(efd[0]);
	if (timed_out)
		kill(pid, SIGKILL);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	report_case(c, caps, buf, buf ? len : 0, err, errlen, status, timed_out);
	fflush(stdout);
	free(buf);
}

/* ---- input ---- */

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Hex digits (memory order) into out; returns the byte count or -1. */
static long parse_hex(const char *s, uint8_t *out, size_t max)
{
	size_t n = strlen(s);
	if (n % 2 || n / 2 > max)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return (long)(n / 2);
}

static int parse_num(const char *s, unsigned long long *v)
{
	char *e;
	errno = 0;
	*v = strtoull(s, &e, 0);
	return s[0] && !*e && !errno;
}

static char *read_stdin(void)
{
	size_t cap = 1 << 16, len = 0;
	char *b = malloc(cap);
	for (;;) {
		if (!b)
			return NULL;
		if (len + 1 >= cap) {
			if (cap >= (64u << 20))
				return NULL;
			cap *= 2;
			char *nb = realloc(b, cap);
			if (!nb) {
				free(b);
				return NULL;
			}
			b = nb;
		}
		ssize_t n = read(0, b + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(b);
			return NULL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	b[len] = 0;
	return b;
}

static int bad(int line, const char *what)
{
	fprintf(stderr, "sigframe-helper probe: input line %d: %s\n", line, what);
	return 2;
}

static int parse_cases(char *text, struct probe_case *cases, int *ncases)
{
	static struct write_block blocks[MAX_BLOCKS];
	static struct regimage base = {.mxcsr = 0x1f80};
	int nblocks = 0;
	struct probe_case *c = NULL;
	struct write_block *blk = NULL;
	int line = 0;
	for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		line++;
		char *a[4] = {0};
		int n = 0;
		for (char *s2 = NULL, *t = strtok_r(l, " \t\r", &s2); t && n < 4; t = strtok_r(NULL, " \t\r", &s2))
			a[n++] = t;
		if (n == 0 || a[0][0] == '#')
			continue;
		unsigned long long v, w;
		/* Registers: of the case, or (outside one) of every later case. */
		struct regimage *regs = c ? &c->regs : &base;
		if (strcmp(a[0], "zmm") == 0 && !blk) {
			if (n != 3 || !parse_num(a[1], &v) || v >= NVEC || parse_hex(a[2], regs->v[v], VEC_BYTES) != VEC_BYTES)
				return bad(line, "expected: zmm N HEX(64 bytes)");
			continue;
		}
		if (strcmp(a[0], "k") == 0 && !blk) {
			if (n != 3 || !parse_num(a[1], &v) || v >= 8 || !parse_num(a[2], &w))
				return bad(line, "expected: k N VALUE");
			regs->k[v] = w;
			continue;
		}
		if (strcmp(a[0], "mxcsr") == 0 && !blk) {
			if (n != 2 || !parse_num(a[1], &v) || v > 0xffffffffull)
				return bad(line, "expected: mxcsr VALUE");
			regs->mxcsr = (uint32_t)v;
			continue;
		}
		if (strcmp(a[0], "write") == 0 && (c || blk)) {
			int *nw = c ? &c->nwrites : &blk->nwrites;
			struct write_op *op = c ? &c->writes[*nw] : &blk->writes[*nw];
			if (*nw >= MAX_WRITES)
				return bad(line, "too many writes in one case");
			uint8_t *bytes = malloc(MAX_WRITE_BYTES);
			long len;
			if (n != 3 || !bytes || !parse_num(a[1], &v) || v >= reloc_size() ||
			    (len = parse_hex(a[2], bytes, MAX_WRITE_BYTES)) <= 0) {
				free(bytes);
				return bad(line, "expected: write OFFSET HEX (at most 4096 bytes)");
			}
			op->off = (uint32_t)v;
			op->len = (uint32_t)len;
			op->bytes = bytes;
			(*nw)++;
			continue;
		}
		if (strcmp(a[0], "def") == 0) {
			if (c || blk || n != 2 || strlen(a[1]) >= sizeof(blk->name) || nblocks >= MAX_BLOCKS)
				return bad(line, "expected: def NAME (outside a case)");
			blk = &blocks[nblocks++];
			memset(blk, 0, sizeof(*blk));
			strcpy(blk->name, a[1]);
			continue;
		}
		if (strcmp(a[0], "enddef") == 0) {
			if (!blk)
				return bad(line, "enddef without def");
			blk = NULL;
			continue;
		}
		if (blk)
			return bad(line, "only write lines go inside def ... enddef");
		if (strcmp(a[0], "case") == 0) {
			if (c)
				return bad(line, "case inside a case (missing end)");
			if (n != 2 || strlen(a[1]) >= sizeof(c->id) || *ncases >= MAX_CASES)
				return bad(line, "expected: case ID");
			c = &cases[(*ncases)++];
			memset(c, 0, sizeof(*c));
			strcpy(c->id, a[1]);
			c->copylen = -1;
			c->regs = base;
			amx_case_init(&c->amx);
			continue;
		}
		if (!c) {
			int r = amx_parse(NULL, a, n);
			if (r < 0)
				return bad(line, "expected: tilecfg HEX(64 bytes) | tile N HEX(1024 bytes)");
			if (r > 0)
				continue;
			return bad(line, "expected: case ID");
		}
		if (strcmp(a[0], "end") == 0) {
			c = NULL;
		} else if (strcmp(a[0], "place") == 0) {
			if (n == 2 && strcmp(a[1], "inplace") == 0)
				c->place = PLACE_INPLACE;
			else if (n == 2 && strcmp(a[1], "null") == 0)
				c->place = PLACE_NULL;
			else if (n == 3 && strcmp(a[1], "copy") == 0 && parse_num(a[2], &v) && v < PAGE) {
				c->place = PLACE_COPY;
				c->align = (uint32_t)v;
			} else if (n == 3 && strcmp(a[1], "guard") == 0 && parse_num(a[2], &v) && v >= 512 &&
				   v <= reloc_size()) {
				c->place = PLACE_GUARD;
				c->readable = (uint32_t)v;
			} else
				return bad(line, "expected: place inplace | copy ALIGN(<4096) | guard READABLE | null");
		} else if (strcmp(a[0], "copylen") == 0) {
			if (n != 2 || !parse_num(a[1], &v) || v > fpstate_limit())
				return bad(line, "expected: copylen N (at most the helper's fpstate limit)");
			c->copylen = (int64_t)v;
		} else if (strcmp(a[0], "nested") == 0) {
			c->nested = 1;
		} else if (strcmp(a[0], "use") == 0) {
			const struct write_block *b = NULL;
			for (int i = 0; n == 2 && i < nblocks; i++)
				if (strcmp(blocks[i].name, a[1]) == 0)
					b = &blocks[i];
			if (!b)
				return bad(line, "expected: use NAME (a block defined before)");
			if (c->nwrites + b->nwrites > MAX_WRITES)
				return bad(line, "too many writes in one case");
			memcpy(&c->writes[c->nwrites], b->writes, (size_t)b->nwrites * sizeof(b->writes[0]));
			c->nwrites += b->nwrites;
		} else {
			int r = amx_parse(&c->amx, a, n);
			if (r < 0)
				return bad(line, "expected: amx none|tiles|release|perm|cfg|touch, amx-sas-before|amx-sas-after|amx-sas-deliver N, tilecfg HEX(64 bytes), tile N HEX(1024 bytes)");
			if (r == 0)
				return bad(line, "unknown keyword");
		}
	}
	if (c || blk)
		return bad(line, c ? "missing end" : "missing enddef");
	return 0;
}

int cmd_probe(int argc, char **argv)
{
	int timeout_ms = 5000;
	int max_isa = ISA_AVX512;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc)
			timeout_ms = atoi(argv[++i]);
		else if (strcmp(argv[i], "--isa") == 0 && i + 1 < argc) {
			/* Use a narrower register set than the CPU has (to exercise those paths). */
			const char *v = argv[++i];
			max_isa = strcmp(v, "sse") == 0 ? ISA_SSE : strcmp(v, "avx") == 0 ? ISA_AVX : ISA_AVX512;
		} else {
			fprintf(stderr, "sigframe-helper probe: unknown argument %s\n", argv[i]);
			return 2;
		}
	}
	/* No core files from children that die of SIGSEGV, and no ptrace/core access to them. */
	struct rlimit nocore = {0, 0};
	setrlimit(RLIMIT_CORE, &nocore);
	prctl(PR_SET_DUMPABLE, 0);

	char *text = read_stdin();
	if (!text) {
		fprintf(stderr, "sigframe-helper probe: cannot read the cases from stdin\n");
		return 2;
	}
	static struct probe_case cases[MAX_CASES];
	int ncases = 0;
	int rc = parse_cases(text, cases, &ncases);
	free(text);
	if (rc)
		return rc;

	struct cpu_caps caps;
	detect_caps(&caps);
	if ((int)caps.isa > max_isa)
		caps.isa = (enum isa)max_isa;
	printf("{\"helper\": \"sigframe-helper\", \"protocol\": %d, \"isa\": \"%s\", \"kBits\": %d, "
	       "\"xcr0\": \"0x%llx\", \"fpstateLimit\": %u, \"cases\": %d}\n",
	       HELPER_PROTOCOL, isa_name(caps.isa), caps.isa == ISA_AVX512 ? (caps.avx512bw ? 64 : 16) : 0,
	       (unsigned long long)caps.xcr0, fpstate_limit(), ncases);
	for (int i = 0; i < ncases; i++)
		run_case(&cases[i], &caps, timeout_ms);
	printf("{\"done\": %d}\n", ncases);
	return 0;
}
