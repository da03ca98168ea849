/*
 * The `probe` subcommand: hand modified signal frames to the running kernel and report what
 * rt_sigreturn did with them. The cases come on stdin (the TypeScript side computes them from
 * the CPU's layout); each one runs in its own forked child:
 *
 *   1. the child loads the case's register values (xmm/ymm/zmm, k0-7, MXCSR) and sends itself
 *      SIGUSR1 (regs.c);
 *   2. the handler reports the frame as delivered, then edits it: copies it elsewhere (64-byte
 *      aligned or not, or ending right before a PROT_NONE page) or leaves it in place, writes
 *      the case's bytes, optionally takes a nested SIGUSR2, or sets the fpstate pointer to NULL;
 *   3. after sigreturn the registers are stored at once and reported; a SIGSEGV from
 *      sigreturn is reported (si_code) and then kills the child.
 *
 * Reports go to the parent through a pipe as tagged records. The parent enforces a timeout,
 * reaps every child and prints one JSON document. Core dumps are off for the whole process.
 *
 * Input (one line each; hex in memory order):
 *   case ID
 *   zmm N HEX64        initial value of vector register N (the low 16/32 bytes for xmm/ymm)
 *   k N VALUE          initial opmask value (hex)
 *   mxcsr VALUE        initial MXCSR (hex)
 *   place inplace | copy ALIGN | guard READABLE | null
 *   copylen N          bytes of the delivered frame copied (copy/guard); default: its extent
 *   nested             raise SIGUSR2 inside the handler after the writes
 *   write OFFSET HEX   bytes written at fpstate+OFFSET (in the frame or the copy)
 *   end
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
#define MAX_WRITES 64
#define MAX_WRITE_BYTES 4096
#define PAGE 4096
/* Bytes mapped before the guard page of the relocation area. */
#define RELOC_SIZE (FPSTATE_MAX + PAGE)

enum place { PLACE_INPLACE, PLACE_COPY, PLACE_GUARD, PLACE_NULL };

struct write_op {
	uint32_t off, len;
	uint8_t *bytes;
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
};

/* ---- records from the child ---- */

enum { REC_DELIVERED = 'D', REC_PLACED = 'P', REC_INNER = 'I', REC_REGS = 'R', REC_FAULT = 'S', REC_ERROR = 'E' };

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
static uint8_t inner_bytes[FPSTATE_MAX];
static uint8_t snapshot[RELOC_SIZE];
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

static void on_inner(int sig, siginfo_t *info, void *ctx)
{
	(void)sig;
	(void)info;
	ucontext_t *uc = ctx;
	const uint8_t *fp = (const uint8_t *)uc->uc_mcontext.fpregs;
	inner_facts.uc_flags = uc->uc_flags;
	inner_facts.fpstate_addr = (uint64_t)(uintptr_t)fp;
	inner_facts.fpstate_offset = fp ? (int64_t)((uintptr_t)fp - (uintptr_t)uc) : 0;
	inner_facts.nbytes = fp ? fpstate_extent(fp) : 0;
	if (fp)
		memcpy(inner_bytes, fp, inner_facts.nbytes);
}

static void on_signal(int sig, siginfo_t *info, void *ctx)
{
	(void)sig;
	(void)info;
	ucontext_t *uc = ctx;
	uint8_t *fp = (uint8_t *)uc->uc_mcontext.fpregs;
	if (!fp)
		fail("the kernel delivered no fpstate");
	uint32_t ext = fpstate_extent(fp);
	struct frame_facts f = {uc->uc_flags, (int64_t)((uintptr_t)fp - (uintptr_t)uc), (uint64_t)(uintptr_t)fp, ext};
	record(REC_DELIVERED, &f, sizeof(f), fp, ext);

	/* Where the fpstate will be at sigreturn, and how many bytes may be written there. */
	uint8_t *target = fp;
	uint32_t limit = ext, end = ext;
	if (cur->place == PLACE_COPY || cur->place == PLACE_GUARD) {
		if (cur->place == PLACE_COPY) {
			target = reloc + cur->align;
			limit = RELOC_SIZE - cur->align;
		} else {
			target = reloc + RELOC_SIZE - cur->readable;
			limit = cur->readable;
		}
		uint32_t n = cur->copylen < 0 ? ext : (uint32_t)cur->copylen;
		if (n > ext)
			n = ext;
		if (n > limit)
			n = limit;
		memcpy(target, fp, n);
		end = n;
	}
	for (int i = 0; i < cur->nwrites; i++) {
		const struct write_op *w = &cur->writes[i];
		/* In place, only the frame's own bytes: past them lies the interrupted code's stack. */
		if (w->off + w->len > limit)
			fail("a write lies outside the frame (use place copy for larger frames)");
		memcpy(target + w->off, w->bytes, w->len);
		if (w->off + w->len > end)
			end = w->off + w->len;
	}
	if (cur->nested) {
		memcpy(snapshot, target, end);
		syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR2);
		struct inner in = {inner_facts, memcmp(snapshot, target, end) == 0};
		record(REC_INNER, &in, sizeof(in), inner_bytes, inner_facts.nbytes);
	}
	if (cur->place == PLACE_NULL) {
		struct placed p = {0, 0, 0};
		record(REC_PLACED, &p, sizeof(p), NULL, 0);
		uc->uc_mcontext.fpregs = NULL;
		return;
	}
	struct placed p = {(uint64_t)(uintptr_t)target, limit, end};
	record(REC_PLACED, &p, sizeof(p), target, end);
	uc->uc_mcontext.fpregs = (void *)target;
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

static void run_child(const struct probe_case *c, int fd, const struct cpu_caps *caps, pid_t parent)
{
	report_fd = fd;
	cur = c;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(73);
	alarm(10); /* a backstop; the parent kills sooner */

	reloc = mmap(NULL, RELOC_SIZE + PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (reloc == MAP_FAILED || mprotect(reloc + RELOC_SIZE, PAGE, PROT_NONE) != 0)
		fail("cannot map the relocation area");
	stack_t ss = {.ss_sp = altstack, .ss_size = sizeof(altstack), .ss_flags = 0};
	if (sigaltstack(&ss, NULL) != 0)
		fail("sigaltstack failed");
	handle(SIGUSR1, on_signal, 0);
	handle(SIGUSR2, on_inner, 0);
	handle(SIGSEGV, on_fault, SA_ONSTACK | SA_RESETHAND);
	handle(SIGBUS, on_fault, SA_ONSTACK | SA_RESETHAND);

	memset(&after, 0, sizeof(after));
	regs_signal_roundtrip(caps->isa, caps->avx512bw, &c->regs, &after, SIGUSR1);
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

static void report_case(const struct probe_case *c, const struct cpu_caps *caps, const uint8_t *buf,
			size_t len, int status, int timed_out)
{
	printf("    {\"id\": ");
	json_str(c->id);
	int have_regs = 0;
	/* Records. */
	for (size_t off = 0; off + sizeof(struct rec_hdr) <= len;) {
		struct rec_hdr h;
		memcpy(&h, buf + off, sizeof(h));
		const uint8_t *p = buf + off + sizeof(h);
		if (off + sizeof(h) + h.len > len)
			break;
		if (h.tag == REC_DELIVERED && h.len >= sizeof(struct frame_facts)) {
			struct frame_facts f;
			memcpy(&f, p, sizeof(f));
			printf(",\n     \"delivered\": {");
			json_frame_fields(&f, p + sizeof(f));
			printf("}");
		} else if (h.tag == REC_INNER && h.len >= sizeof(struct inner)) {
			struct inner in;
			memcpy(&in, p, sizeof(in));
			printf(",\n     \"inner\": {\"outerIntact\": %s, ", in.outer_intact ? "true" : "false");
			json_frame_fields(&in.f, p + sizeof(in));
			printf("}");
		} else if (h.tag == REC_PLACED && h.len >= sizeof(struct placed)) {
			struct placed pl;
			memcpy(&pl, p, sizeof(pl));
			printf(",\n     \"placed\": {\"address\": \"0x%llx\", \"readable\": %u, \"fpstate\": ",
			       (unsigned long long)pl.addr, pl.readable);
			json_hex(p + sizeof(pl), pl.nbytes);
			printf("}");
		} else if (h.tag == REC_REGS && h.len == sizeof(struct regimage)) {
			struct regimage r;
			memcpy(&r, p, sizeof(r));
			printf(",\n     \"regs\": ");
			print_regs(&r, caps);
			have_regs = 1;
		} else if (h.tag == REC_FAULT && h.len == sizeof(struct fault)) {
			struct fault f;
			memcpy(&f, p, sizeof(f));
			printf(",\n     \"fault\": {\"signal\": \"%s\", \"siCode\": %d, \"siAddr\": \"0x%llx\"}",
			       signame(f.signo), f.si_code, (unsigned long long)f.addr);
		} else if (h.tag == REC_ERROR) {
			char msg[256];
			size_t n = h.len < sizeof(msg) - 1 ? h.len : sizeof(msg) - 1;
			memcpy(msg, p, n);
			msg[n] = 0;
			printf(",\n     \"error\": ");
			json_str(msg);
		}
		off += sizeof(h) + h.len;
	}
	const char *outcome;
	if (timed_out)
		outcome = "timeout";
	else if (WIFSIGNALED(status))
		outcome = "killed";
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && have_regs)
		outcome = "returned";
	else
		outcome = "exited";
	printf(",\n     \"outcome\": \"%s\"", outcome);
	if (WIFSIGNALED(status))
		printf(", \"signal\": \"%s\", \"signalNumber\": %d", signame(WTERMSIG(status)), WTERMSIG(status));
	else if (WIFEXITED(status))
		printf(", \"exitCode\": %d", WEXITSTATUS(status));
	printf("}");
}

static void run_case(const struct probe_case *c, const struct cpu_caps *caps, int timeout_ms)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) != 0) {
		perror("sigframe-helper probe: pipe");
		exit(1);
	}
	fflush(stdout);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		perror("sigframe-helper probe: fork");
		exit(1);
	}
	if (pid == 0) {
		close(pfd[0]);
		run_child(c, pfd[1], caps, parent);
	}
	close(pfd[1]);

	size_t cap = 1 << 16, len = 0;
	uint8_t *buf = malloc(cap);
	int timed_out = 0;
	double deadline = now_ms() + timeout_ms;
	for (;;) {
		double left = deadline - now_ms();
		if (left <= 0) {
			timed_out = 1;
			break;
		}
		struct pollfd p = {pfd[0], POLLIN, 0};
		int r = poll(&p, 1, (int)left + 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			continue;
		if (len == cap) {
			if (cap >= (16u << 20))
				break; /* more than any case can legitimately report */
			cap *= 2;
			buf = realloc(buf, cap);
		}
		ssize_t n = read(pfd[0], buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(pfd[0]);
	if (timed_out)
		kill(pid, SIGKILL);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	report_case(c, caps, buf, len, status, timed_out);
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
		if (len + 1 >= cap) {
			if (cap >= (64u << 20))
				return NULL;
			cap *= 2;
			b = realloc(b, cap);
		}
		ssize_t n = read(0, b + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return NULL;
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
	struct probe_case *c = NULL;
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
		if (strcmp(a[0], "case") == 0) {
			if (c)
				return bad(line, "case inside a case (missing end)");
			if (n != 2 || strlen(a[1]) >= sizeof(c->id) || *ncases >= MAX_CASES)
				return bad(line, "expected: case ID");
			c = &cases[(*ncases)++];
			memset(c, 0, sizeof(*c));
			strcpy(c->id, a[1]);
			c->copylen = -1;
			c->regs.mxcsr = 0x1f80;
			continue;
		}
		if (!c)
			return bad(line, "expected: case ID");
		if (strcmp(a[0], "end") == 0) {
			c = NULL;
		} else if (strcmp(a[0], "zmm") == 0) {
			if (n != 3 || !parse_num(a[1], &v) || v >= NVEC || parse_hex(a[2], c->regs.v[v], VEC_BYTES) != VEC_BYTES)
				return bad(line, "expected: zmm N HEX(64 bytes)");
		} else if (strcmp(a[0], "k") == 0) {
			if (n != 3 || !parse_num(a[1], &v) || v >= 8 || !parse_num(a[2], &w))
				return bad(line, "expected: k N VALUE");
			c->regs.k[v] = w;
		} else if (strcmp(a[0], "mxcsr") == 0) {
			if (n != 2 || !parse_num(a[1], &v) || v > 0xffffffffull)
				return bad(line, "expected: mxcsr VALUE");
			c->regs.mxcsr = (uint32_t)v;
		} else if (strcmp(a[0], "place") == 0) {
			if (n == 2 && strcmp(a[1], "inplace") == 0)
				c->place = PLACE_INPLACE;
			else if (n == 2 && strcmp(a[1], "null") == 0)
				c->place = PLACE_NULL;
			else if (n == 3 && strcmp(a[1], "copy") == 0 && parse_num(a[2], &v) && v < PAGE) {
				c->place = PLACE_COPY;
				c->align = (uint32_t)v;
			} else if (n == 3 && strcmp(a[1], "guard") == 0 && parse_num(a[2], &v) && v >= 512 &&
				   v <= RELOC_SIZE) {
				c->place = PLACE_GUARD;
				c->readable = (uint32_t)v;
			} else
				return bad(line, "expected: place inplace | copy ALIGN(<4096) | guard READABLE | null");
		} else if (strcmp(a[0], "copylen") == 0) {
			if (n != 2 || !parse_num(a[1], &v) || v > FPSTATE_MAX)
				return bad(line, "expected: copylen N");
			c->copylen = (int64_t)v;
		} else if (strcmp(a[0], "nested") == 0) {
			c->nested = 1;
		} else if (strcmp(a[0], "write") == 0) {
			if (c->nwrites >= MAX_WRITES)
				return bad(line, "too many writes in one case");
			struct write_op *op = &c->writes[c->nwrites];
			long len;
			op->bytes = malloc(MAX_WRITE_BYTES);
			if (n != 3 || !op->bytes || !parse_num(a[1], &v) || v >= RELOC_SIZE ||
			    (len = parse_hex(a[2], op->bytes, MAX_WRITE_BYTES)) <= 0)
				return bad(line, "expected: write OFFSET HEX (at most 4096 bytes)");
			op->off = (uint32_t)v;
			op->len = (uint32_t)len;
			c->nwrites++;
		} else {
			return bad(line, "unknown keyword");
		}
	}
	if (c)
		return bad(line, "missing end");
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
	printf("{\n  \"helper\": \"sigframe-helper\",\n  \"protocol\": %d,\n  \"isa\": \"%s\",\n  \"kBits\": %d,\n",
	       HELPER_PROTOCOL, isa_name(caps.isa), caps.isa == ISA_AVX512 ? (caps.avx512bw ? 64 : 16) : 0);
	printf("  \"xcr0\": \"0x%llx\",\n  \"cases\": [\n", (unsigned long long)caps.xcr0);
	for (int i = 0; i < ncases; i++) {
		run_case(&cases[i], &caps, timeout_ms);
		printf(i + 1 < ncases ? ",\n" : "\n");
	}
	printf("  ]\n}\n");
	return 0;
}
