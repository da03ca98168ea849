/* Entry point: `sigframe-helper cpuid|frame|probe`, or `/init` of abi-test's initramfs. See helper.h. */
#include "helper.h"

#include <string.h>
#include <unistd.h>

void json_hex(const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	putchar('"');
	for (size_t i = 0; i < n; i++) {
		putchar(digits[p[i] >> 4]);
		putchar(digits[p[i] & 15]);
	}
	putchar('"');
}

void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static int usage(void)
{
	fprintf(stderr, "usage: sigframe-helper cpuid [--cpu N] | frame [--amx] | probe [--timeout-ms N] < cases\n");
	return 2;
}

int helper_main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	if (strcmp(argv[1], "cpuid") == 0)
		return cmd_cpuid(argc - 1, argv + 1);
	if (strcmp(argv[1], "frame") == 0)
		return cmd_frame(argc - 1, argv + 1);
	if (strcmp(argv[1], "probe") == 0)
		return cmd_probe(argc - 1, argv + 1);
	return usage();
}

int main(int argc, char **argv)
{
	/* The kernel runs the initramfs's /init as PID 1 without arguments (see init.c). */
	const char *base = strrchr(argv[0], '/');
	if (argc == 1 && getpid() == 1 && strcmp(base ? base + 1 : argv[0], "init") == 0)
		return cmd_init(argc, argv);
	return helper_main(argc, argv);
}
