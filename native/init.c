/*
 * `/init` of the initramfs that `sigframe abi-test` boots under qemu-system-x86_64: the static
 * helper itself, run by the kernel as PID 1 without arguments. It runs helper subcommands for the
 * host over the second serial port (/dev/ttyS1; the first is the kernel console), so the host can
 * read the guest's CPUID and frame, compute the cases for that layout and send them back, all in
 * one boot.
 *
 * Host to guest:
 *   RUN <argc> <n>\n   then argc lines (one argument each, the subcommand first), then n bytes of
 *                      stdin for it
 *   OFF\n              power off
 * Guest to host, every message "SFR <TAG> <n>\n" and then exactly n payload bytes:
 *   READY              payload: the helper protocol number
 *   OUT                bytes of the subcommand's stdout
 *   ERR                bytes of its stderr
 *   EXIT               payload: its exit code, or 128 + the signal that killed it
 *
 * The subcommand runs in a forked child (its own stdio), so a crash in it never takes PID 1 down.
 */
#include "helper.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define CHANNEL "/dev/ttyS1"
#define MAX_ARGS 32
#define MAX_ARG 4096
#define MAX_STDIN (64u << 20)

static int chan = -1;

static void put(const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n > 0) {
		ssize_t w = write(chan, b, n);
		if (w < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (w <= 0)
			return;
		b += w;
		n -= (size_t)w;
	}
}

static void message(const char *tag, const void *payload, size_t n)
{
	char hdr[64];
	int h = snprintf(hdr, sizeof(hdr), "SFR %s %zu\n", tag, n);
	put(hdr, (size_t)h);
	if (n)
		put(payload, n);
}

/* ---- buffered reads from the channel ---- */

static uint8_t rbuf[65536];
static size_t rpos, rlen;

static int fill(void)
{
	for (;;) {
		ssize_t n = read(chan, rbuf, sizeof(rbuf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		rpos = 0;
		rlen = (size_t)n;
		return 1;
	}
}

static int read_byte(void)
{
	if (rpos == rlen && !fill())
		return -1;
	return rbuf[rpos++];
}

/* A line without its newline, NUL-terminated; 0 at end of input or when it is too long. */
static int read_line(char *out, size_t max)
{
	size_t n = 0;
	for (;;) {
		int ch = read_byte();
		if (ch < 0)
			return 0;
		if (ch == '\n')
			break;
		if (ch == '\r')
			continue;
		if (n + 1 >= max)
			return 0;
		out[n++] = (char)ch;
	}
	out[n] = 0;
	return 1;
}

static int read_exact(uint8_t *out, size_t n)
{
	while (n > 0) {
		if (rpos == rlen && !fill())
			return 0;
		size_t k = rlen - rpos < n ? rlen - rpos : n;
		memcpy(out, rbuf + rpos, k);
		rpos += k;
		out += k;
		n -= k;
	}
	return 1;
}

/* ---- one subcommand ---- */

static int run_subcommand(int argc, char **argv, const uint8_t *in, size_t inlen)
{
	int pin[2], pout[2], perr[2];
	if (pipe(pin) || pipe(pout) || pipe(perr))
		return 125;
	pid_t pid = fork();
	if (pid < 0)
		return 125;
	if (pid == 0) {
		dup2(pin[0], 0);
		dup2(pout[1], 1);
		dup2(perr[1], 2);
		close(pin[0]), close(pin[1]), close(pout[0]), close(pout[1]), close(perr[0]), close(perr[1]);
		close(chan);
		signal(SIGPIPE, SIG_DFL);
		exit(helper_main(argc, argv));
	}
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	fcntl(pin[1], F_SETFL, O_NONBLOCK);
	size_t sent = 0;
	if (inlen == 0) {
		close(pin[1]);
		pin[1] = -1;
	}
	struct pollfd p[3] = {{pout[0], POLLIN, 0}, {perr[0], POLLIN, 0}, {pin[1], POLLOUT, 0}};
	int open_out = 2;
	static uint8_t chunk[32768];
	while (open_out > 0 || p[2].fd >= 0) {
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < 2; i++) {
			if (p[i].fd < 0 || !p[i].revents)
				continue;
			ssize_t n = read(p[i].fd, chunk, sizeof(chunk));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				close(p[i].fd);
				p[i].fd = -1;
				open_out--;
			} else {
				message(i == 0 ? "OUT" : "ERR", chunk, (size_t)n);
			}
		}
		if (p[2].fd >= 0 && p[2].revents) {
			ssize_t n = p[2].revents & POLLOUT ? write(p[2].fd, in + sent, inlen - sent) : -1;
			if (n > 0)
				sent += (size_t)n;
			if ((n < 0 && errno != EAGAIN && errno != EINTR) || sent == inlen) {
				close(p[2].fd);
				p[2].fd = -1;
			}
		}
	}
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	/* Reap whatever else ended up with PID 1 (children of a subcommand that died). */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

static void power_off(void)
{
	sync();
	reboot(RB_POWER_OFF);
	/* PID 1 exiting panics the kernel; with panic=-1 and -no-reboot QEMU ends as well. */
	_exit(1);
}

static int open_channel(void)
{
	mkdir("/dev", 0755);
	if (access(CHANNEL, F_OK) != 0)
		mknod(CHANNEL, S_IFCHR | 0600, makedev(4, 65));
	int fd = open(CHANNEL, O_RDWR | O_NOCTTY);
	if (fd < 0)
		return -1;
	struct termios t;
	if (tcgetattr(fd, &t) == 0) {
		cfmakeraw(&t);
		cfsetispeed(&t, B115200);
		cfsetospeed(&t, B115200);
		t.c_cflag |= CLOCAL | CREAD;
		t.c_cflag &= ~(tcflag_t)CRTSCTS;
		t.c_iflag &= ~(tcflag_t)(IXON | IXOFF);
		tcsetattr(fd, TCSANOW, &t);
	}
	return fd;
}

int cmd_init(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	chan = open_channel();
	if (chan < 0) {
		fprintf(stderr, "sigframe init: cannot open %s: %s\n", CHANNEL, strerror(errno));
		power_off();
	}
	char ready[16];
	int n = snprintf(ready, sizeof(ready), "%d", HELPER_PROTOCOL);
	message("READY", ready, (size_t)n);
	char line[MAX_ARG + 1];
	for (;;) {
		if (!read_line(line, sizeof(line)))
			power_off();
		if (strcmp(line, "OFF") == 0)
			power_off();
		unsigned nargs = 0;
		unsigned long inlen = 0;
		if (sscanf(line, "RUN %u %lu", &nargs, &inlen) != 2 || nargs == 0 || nargs > MAX_ARGS ||
		    inlen > MAX_STDIN) {
			const char *msg = "sigframe init: expected RUN <argc> <stdin bytes> or OFF\n";
			message("ERR", msg, strlen(msg));
			message("EXIT", "2", 1);
			continue;
		}
		char *args[MAX_ARGS + 2];
		args[0] = "sigframe-helper";
		int ok = 1;
		for (unsigned i = 0; i < nargs && ok; i++) {
			ok = read_line(line, sizeof(line));
			args[i + 1] = ok ? strdup(line) : NULL;
		}
		args[nargs + 1] = NULL;
		uint8_t *in = malloc(inlen ? inlen : 1);
		if (!ok || !in || !read_exact(in, inlen))
			power_off();
		int code = run_subcommand((int)nargs + 1, args, in, inlen);
		free(in);
		for (unsigned i = 0; i < nargs; i++)
			free(args[i + 1]);
		char c[16];
		n = snprintf(c, sizeof(c), "%d", code);
		message("EXIT", c, (size_t)n);
	}
}
