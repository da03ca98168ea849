/* Entry point: `sigframe-helper cpuid|frame|probe`. See helper.h. */
#include "helper.h"

#include <string.h>

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
	fprintf(stderr, "usage: sigframe-helper cpuid [--cpu N] | frame | probe [--timeout-ms N] < cases\n");
	return 2;
}

int main(int argc, char **argv)
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
