/*
 * test_cs_unwind.c - the profiler's CFI unwinder of monitor stacks
 * (src/stats/cs_unwind.c), checked against glibc's backtrace() (libgcc's
 * unwinder, an independent reading of the same tables) on a real stack,
 * and on synthetic stacks for translated frames and every stop reason.
 */
#include <execinfo.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "cpu/hart.h"
#include "stats/cs_unwind.h"

#define COPY 16384

struct snap {
	struct cs_hregs r;
	uint8_t stack[COPY];
	size_t len;
	void *bt[32];
	int nbt;
};

/* The thread's stack top, so the copy never reads past it. */
static uint64_t stack_hi(void)
{
	pthread_attr_t a;
	void *lo;
	size_t size;
	assert_int_equal(pthread_getattr_np(pthread_self(), &a), 0);
	assert_int_equal(pthread_attr_getstack(&a, &lo, &size), 0);
	pthread_attr_destroy(&a);
	return (uint64_t)(uintptr_t)lo + size;
}

/* As the signal handler copies: word loads the sanitizers do not check. */
__attribute__((no_sanitize("address"), noinline))
static void copy_words(uint8_t *dst, uint64_t src, size_t len)
{
	const volatile uint64_t *s = (const volatile uint64_t *)(uintptr_t)src;
	for (size_t i = 0; i < len / 8; i++)
		((uint64_t *)(void *)dst)[i] = s[i];
}

/* Takes the registers and the stack here, then glibc's backtrace from here. */
__attribute__((noinline)) static void leaf(struct snap *s)
{
	uint64_t pc, sp, bp;
	__asm__ volatile("lea 0(%%rip), %0\n\tmov %%rsp, %1\n\tmov %%rbp, %2"
			 : "=r"(pc), "=r"(sp), "=r"(bp));
	s->r = (struct cs_hregs){ pc, sp, bp };
	uint64_t hi = stack_hi();
	s->len = hi - sp < COPY ? (size_t)(hi - sp) & ~(size_t)7 : COPY;
	copy_words(s->stack, sp, s->len);
	s->nbt = backtrace(s->bt, 32);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void mid(struct snap *s, int depth)
{
	volatile char pad[200];    /* a frame of some size */
	pad[0] = (char)depth;
	if (depth > 0)
		mid(s, depth - 1);
	else
		leaf(s);
	__asm__ volatile("" ::: "memory");
	(void)pad[0];
}

static void test_unwind_matches_backtrace(void **state)
{
	static struct snap s;
	struct cs_unwind *u;
	struct verr e = { 0 };
	uint64_t out[64];
	uint8_t stop = 0xff;
	struct cs_hjit none = { 0, 0, 0 };
	(void)state;

	assert_int_equal(cs_unwind_new(&u, &e), 0);
	mid(&s, 3);
	unsigned n = cs_unwind_walk(u, &s.r, s.stack, s.len, &none, out, 64, &stop);
	/* leaf, mid x4, this test, then cmocka's frames: at least six. */
	assert_true(n >= 6);
	assert_true(s.nbt >= 6);
	/*
	 * backtrace()'s first entry is inside backtrace's own caller chain (its
	 * return into leaf is the second); out[0] is leaf's pc.  From there on
	 * both are return addresses and must be the same for as far as the
	 * copy reaches (both stop at the thread's outermost frame).
	 */
	for (int i = 1; i + 1 < s.nbt && i < (int)n; i++)
		assert_int_equal(out[i], (uint64_t)(uintptr_t)s.bt[i + 1]);
	if (stop == CS_HSTOP_END)
		assert_int_equal(n, (unsigned)s.nbt - 1);
	else
		assert_int_equal(stop, CS_HSTOP_COPY);
	/* The cached rules give the same walk again. */
	uint64_t again[64];
	assert_int_equal(cs_unwind_walk(u, &s.r, s.stack, s.len, &none, again, 64, &stop), n);
	assert_memory_equal(again, out, n * 8);
	/* Depth cap. */
	assert_int_equal(cs_unwind_walk(u, &s.r, s.stack, s.len, &none, out, 3, &stop), 3);
	assert_int_equal(stop, CS_HSTOP_DEPTH);
	/* A copy that ends inside leaf's caller's frame. */
	n = cs_unwind_walk(u, &s.r, s.stack, 16, &none, out, 64, &stop);
	assert_true(n >= 1);
	assert_int_equal(stop, CS_HSTOP_COPY);
	cs_unwind_free(u);
}

static void test_unwind_translated_frame(void **state)
{
	static struct snap s;
	struct cs_unwind *u;
	struct verr e = { 0 };
	uint64_t out[64];
	uint8_t stop;
	(void)state;

	assert_int_equal(cs_unwind_new(&u, &e), 0);
	mid(&s, 0);
	/*
	 * A fake code cache; its "translated block" runs on a frame laid out as
	 * the entry trampoline leaves it, just below leaf's stack: the return
	 * address at the frame's top goes back into leaf (a function with CFI).
	 */
	struct cs_hjit jit = { 0x10000000, 0x10000100, 0x10100000 };
	size_t fw = HART_JIT_FRAME_BYTES / 8;
	static struct { uint64_t w[COPY / 8 + HART_JIT_FRAME_BYTES / 8]; } bigbuf, *big = &bigbuf;
	memcpy(&big->w[fw], s.stack, s.len);
	big->w[fw - 1] = s.r.pc;
	struct cs_hregs r = { 0x10000200, s.r.sp - HART_JIT_FRAME_BYTES, s.r.bp };
	unsigned n = cs_unwind_walk(u, &r, (const uint8_t *)big->w, s.len + HART_JIT_FRAME_BYTES,
				    &jit, out, 64, &stop);
	/* No frame for translated code: leaf's pc comes first, then its callers. */
	assert_true(n >= 3);
	assert_int_equal(out[0], s.r.pc);
	assert_int_equal(out[1], (uint64_t)(uintptr_t)s.bt[2]);
	/* Inside a trampoline the frame is not known: nothing stored. */
	r.pc = 0x10000010;
	assert_int_equal(cs_unwind_walk(u, &r, (const uint8_t *)big->w, s.len, &jit, out, 64, &stop), 0);
	assert_int_equal(stop, CS_HSTOP_TRAMPOLINE);
	/* Translated code's return address beyond the copy. */
	r.pc = 0x10000200;
	assert_int_equal(cs_unwind_walk(u, &r, (const uint8_t *)big->w, 32, &jit, out, 64, &stop), 0);
	assert_int_equal(stop, CS_HSTOP_COPY);
	cs_unwind_free(u);
}

static void test_unwind_no_cfi(void **state)
{
	struct cs_unwind *u;
	struct verr e = { 0 };
	uint64_t out[8], stack[8] = { 0 };
	struct cs_hjit none = { 0, 0, 0 };
	uint8_t stop;
	(void)state;

	assert_int_equal(cs_unwind_new(&u, &e), 0);
	/* An address no object maps: the pc alone. */
	struct cs_hregs r = { 0x1000, (uint64_t)(uintptr_t)stack, 0 };
	assert_int_equal(cs_unwind_walk(u, &r, (const uint8_t *)stack, sizeof(stack), &none, out, 8,
					&stop), 1);
	assert_int_equal(out[0], 0x1000);
	assert_int_equal(stop, CS_HSTOP_NO_CFI);
	assert_string_equal(cs_hstop_name[CS_HSTOP_NO_CFI], "no-cfi");
	cs_unwind_free(u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unwind_matches_backtrace),
		cmocka_unit_test(test_unwind_translated_frame),
		cmocka_unit_test(test_unwind_no_cfi),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
