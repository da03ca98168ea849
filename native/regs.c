/*
 * Load every vector/opmask register and MXCSR, take a signal, read them all back.
 *
 * One asm block per register set. The signal is sent with a raw `syscall` (tgkill) inside the
 * block, so it is delivered on the return from that instruction; the handler runs, rt_sigreturn
 * restores the (possibly edited) FPU state, and the very next instructions store the registers.
 * No compiler-generated code and no libc call runs in between.
 *
 * The mnemonics are assembled by gas whatever -m flags gcc got; the caller picks the variant
 * from CPUID and XCR0 (detect_caps()).
 */
#include "helper.h"

#include <sys/syscall.h>
#include <unistd.h>

#define S_(x) #x
#define S(x) S_(x)

/* Vector loads/stores: register n <-> bytes n*64 of the image. */
#define XL(n) "movdqu " #n "*64(%[in]), %%xmm" #n "\n\t"
#define XS(n) "movdqu %%xmm" #n ", " #n "*64(%[out])\n\t"
#define YL(n) "vmovdqu " #n "*64(%[in]), %%ymm" #n "\n\t"
#define YS(n) "vmovdqu %%ymm" #n ", " #n "*64(%[out])\n\t"
#define ZL(n) "vmovdqu64 " #n "*64(%[in]), %%zmm" #n "\n\t"
#define ZS(n) "vmovdqu64 %%zmm" #n ", " #n "*64(%[out])\n\t"
#define KLQ(n) "kmovq " S(K_OFFSET) "+" #n "*8(%[in]), %%k" #n "\n\t"
#define KSQ(n) "kmovq %%k" #n ", " S(K_OFFSET) "+" #n "*8(%[out])\n\t"
#define KLW(n) "kmovw " S(K_OFFSET) "+" #n "*8(%[in]), %%k" #n "\n\t"
#define KSW(n) "kmovw %%k" #n ", " S(K_OFFSET) "+" #n "*8(%[out])\n\t"

#define R16(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) M(12) M(13) M(14) M(15)
#define R16HI(M) M(16) M(17) M(18) M(19) M(20) M(21) M(22) M(23) M(24) M(25) M(26) M(27) M(28) M(29) M(30) M(31)
#define K8(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7)

#define LD_MXCSR "ldmxcsr " S(MXCSR_OFFSET) "(%[in])\n\t"
#define ST_MXCSR "stmxcsr " S(MXCSR_OFFSET) "(%[out])\n\t"

#define OPERANDS                                                                                  \
	: "+a"(nr)                                                                                \
	: [in] "r"(in), [out] "r"(out), [k64] "r"(kmov64), "D"(tgid), "S"(tid), "d"(sig)          \
	: "rcx", "r11", "cc", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6",    \
	  "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15"

void regs_signal_roundtrip(enum isa isa, int kmov64, const struct regimage *in, struct regimage *out,
			   int sig_)
{
	long nr = SYS_tgkill;
	long tgid = getpid(), tid = syscall(SYS_gettid), sig = sig_;
	static const uint32_t mxcsr_default = 0x1f80;

	switch (isa) {
	case ISA_SSE:
		__asm__ volatile(LD_MXCSR R16(XL) "syscall\n\t" ST_MXCSR R16(XS) OPERANDS);
		break;
	case ISA_AVX:
		__asm__ volatile(LD_MXCSR R16(YL) "syscall\n\t" ST_MXCSR R16(YS) OPERANDS);
		break;
	case ISA_AVX512:
		/* kmovq needs AVX512BW; without it kmovw moves the low 16 bits of each opmask. */
		__asm__ volatile(LD_MXCSR R16(ZL) R16HI(ZL)
				 "test %[k64], %[k64]\n\t"
				 "jz 1f\n\t" K8(KLQ) "jmp 2f\n\t"
				 "1:\n\t" K8(KLW)
				 "2:\n\t"
				 "syscall\n\t"
				 ST_MXCSR R16(ZS) R16HI(ZS)
				 "test %[k64], %[k64]\n\t"
				 "jz 3f\n\t" K8(KSQ) "jmp 4f\n\t"
				 "3:\n\t" K8(KSW)
				 "4:\n\t" OPERANDS);
		break;
	}
	/* Back to a sane state for the C code that follows. */
	if (isa != ISA_SSE)
		__asm__ volatile("vzeroupper" ::: "memory");
	__asm__ volatile("ldmxcsr %0" ::"m"(mxcsr_default));
}
