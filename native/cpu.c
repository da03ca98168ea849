/* CPUID, XGETBV, MXCSR_MASK, AT_MINSIGSTKSZ, uname: the `cpuid` subcommand. */
#include "helper.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/utsname.h>

#ifndef AT_MINSIGSTKSZ
#define AT_MINSIGSTKSZ 51
#endif

void cpuid_count(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	__asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}

/* Only call when CPUID.1:ECX.OSXSAVE is set (and, for index 1, CPUID(0xD,1).EAX[2]). */
uint64_t read_xgetbv(uint32_t index)
{
	uint32_t lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(index));
	return ((uint64_t)hi << 32) | lo;
}

/* FXSAVE stores MXCSR_MASK at byte 28; 0 there means the architectural default 0xffbf. */
uint32_t fxsave_mxcsr_mask(void)
{
	static uint8_t area[512] __attribute__((aligned(16)));
	memset(area, 0, sizeof(area));
	__asm__ volatile("fxsave %0" : "=m"(area));
	uint32_t mask = get_u32(area + 28);
	return mask ? mask : 0xffbf;
}

const char *isa_name(enum isa i)
{
	return i == ISA_AVX512 ? "avx512" : i == ISA_AVX ? "avx" : "sse";
}

void detect_caps(struct cpu_caps *c)
{
	uint32_t r[4];
	memset(c, 0, sizeof(*c));
	cpuid_count(0, 0, r);
	c->max_leaf = r[0];
	cpuid_count(1, 0, r);
	c->xsave = (r[2] >> 26) & 1;
	c->osxsave = (r[2] >> 27) & 1;
	c->avx = (r[2] >> 28) & 1;
	if (c->max_leaf >= 7) {
		cpuid_count(7, 0, r);
		c->avx512f = (r[1] >> 16) & 1;
		c->avx512bw = (r[1] >> 30) & 1;
	}
	if (c->max_leaf >= 0xd && c->xsave) {
		cpuid_count(0xd, 1, r);
		c->xgetbv1 = (r[0] >> 2) & 1;
		c->xsavec = (r[0] >> 1) & 1;
	}
	if (c->osxsave)
		c->xcr0 = read_xgetbv(0);
	/* The OS must have enabled the state in XCR0, not only the CPU support the instructions. */
	if (c->avx512f && c->avx && (c->xcr0 & 0xe6) == 0xe6)
		c->isa = ISA_AVX512;
	else if (c->avx && (c->xcr0 & 0x6) == 0x6)
		c->isa = ISA_AVX;
	else
		c->isa = ISA_SSE;
}

/* How many sub-leaves of `leaf` to read (at least 1). */
static uint32_t subleaf_count(uint32_t leaf)
{
	uint32_t r[4];
	switch (leaf) {
	case 0xd:
		return 64;
	case 7: case 0x14: case 0x17: case 0x18: case 0x1d: case 0x20: /* EAX of sub-leaf 0 = max */
		cpuid_count(leaf, 0, r);
		return r[0] + 1 > 64 ? 64 : r[0] + 1;
	case 0xf: case 0x80000020: case 0x80000026:
		return 4;
	case 0x10: case 0x12: case 0x23:
		return 8;
	case 0x1e: case 0x24:
		return 2;
	case 4: case 0x8000001d: /* until cache type 0 (included) */
		for (uint32_t s = 0; s < 64; s++) {
			cpuid_count(leaf, s, r);
			if ((r[0] & 0x1f) == 0)
				return s + 1;
		}
		return 64;
	case 0xb: case 0x1f: /* until level type 0 (included) */
		for (uint32_t s = 0; s < 64; s++) {
			cpuid_count(leaf, s, r);
			if (((r[2] >> 8) & 0xff) == 0)
				return s + 1;
		}
		return 64;
	default:
		return 1;
	}
}

static int first_leaf = 1;

static void emit_range(uint32_t base, uint32_t max)
{
	if (max < base)
		return;
	if (max - base > 0xff)
		max = base + 0xff;
	for (uint32_t leaf = base;; leaf++) {
		uint32_t n = subleaf_count(leaf);
		for (uint32_t s = 0; s < n; s++) {
			uint32_t r[4];
			cpuid_count(leaf, s, r);
			printf("%s\n    {\"leaf\":\"0x%08x\",\"subleaf\":\"0x%08x\",\"eax\":\"0x%08x\",\"ebx\":\"0x%08x\","
			       "\"ecx\":\"0x%08x\",\"edx\":\"0x%08x\"}",
			       first_leaf ? "" : ",", leaf, s, r[0], r[1], r[2], r[3]);
			first_leaf = 0;
		}
		if (leaf == max)
			break;
	}
}

int cmd_cpuid(int argc, char **argv)
{
	int cpu = -1;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--cpu") == 0 && i + 1 < argc)
			cpu = atoi(argv[++i]);
		else {
			fprintf(stderr, "sigframe-helper cpuid: unknown argument %s\n", argv[i]);
			return 2;
		}
	}
	if (cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set) != 0) {
			perror("sigframe-helper cpuid: sched_setaffinity");
			return 1;
		}
	}
	struct cpu_caps c;
	detect_caps(&c);
	uint32_t r[4];

	printf("{\n  \"helper\": \"sigframe-helper\",\n  \"protocol\": %d,\n", HELPER_PROTOCOL);
	printf("  \"cpu\": %d,\n", sched_getcpu());
	printf("  \"leaves\": [");
	emit_range(0, c.max_leaf);
	cpuid_count(1, 0, r);
	if ((r[2] >> 31) & 1) { /* hypervisor leaves */
		cpuid_count(0x40000000, 0, r);
		if (r[0] >= 0x40000000)
			emit_range(0x40000000, r[0]);
	}
	cpuid_count(0x80000000, 0, r);
	if (r[0] >= 0x80000000)
		emit_range(0x80000000, r[0]);
	printf("\n  ],\n");

	printf("  \"osxsave\": %s,\n", c.osxsave ? "true" : "false");
	if (c.osxsave)
		printf("  \"xcr0\": \"0x%llx\",\n", (unsigned long long)c.xcr0);
	if (c.osxsave && c.xgetbv1)
		printf("  \"xinuse\": \"0x%llx\",\n", (unsigned long long)read_xgetbv(1));
	printf("  \"atMinSigStkSz\": %lu,\n", getauxval(AT_MINSIGSTKSZ));
	printf("  \"mxcsrMask\": \"0x%08x\",\n", fxsave_mxcsr_mask());
	printf("  \"isa\": \"%s\",\n  \"kBits\": %d,\n", isa_name(c.isa),
	       c.isa == ISA_AVX512 ? (c.avx512bw ? 64 : 16) : 0);
	struct utsname u;
	if (uname(&u) == 0) {
		printf("  \"uname\": {\"sysname\": ");
		json_str(u.sysname);
		printf(", \"release\": ");
		json_str(u.release);
		printf(", \"version\": ");
		json_str(u.version);
		printf(", \"machine\": ");
		json_str(u.machine);
		printf("}\n");
	}
	printf("}\n");
	return 0;
}
