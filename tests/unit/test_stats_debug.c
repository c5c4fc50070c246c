/*
 * test_stats_debug.c - beta-build checks of src/debug: the hart-state
 * invariants accept a reset-like state and name each broken invariant, and
 * a failed check stops the process (forked child) with status 70.
 */
#define VMX_STATS 1
#define VMX_DEBUG 1
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "cpu/hart_state.h"
#include "debug/crashrep.h"
#include "debug/dbg.h"

static void good_state(struct hart_state *s)
{
	memset(s, 0, sizeof(*s));
	s->priv = 3;
	s->pc = 0x80000000;
	s->mstatus = 3ull << 11;   /* MPP = M */
	s->satp = 8ull << 60;      /* Sv39 */
	s->mtvec = 0x80000101;     /* vectored */
	s->mie = 0xaaa;
	s->fcsr = 0xff;
}

static void test_good(void **state)
{
	struct hart_state s;
	(void)state;
	good_state(&s);
	assert_null(dbg_hart_state_problem(&s));
	s.satp = 9ull << 60;
	s.pc += 2;
	assert_null(dbg_hart_state_problem(&s));
}

static void expect(void (*breakit)(struct hart_state *), const char *needle)
{
	struct hart_state s;
	const char *why;
	good_state(&s);
	breakit(&s);
	why = dbg_hart_state_problem(&s);
	assert_non_null(why);
	if (!strstr(why, needle))
		fail_msg("\"%s\" does not mention \"%s\"", why, needle);
}

static void b_x0(struct hart_state *s) { s->x[0] = 1; }
static void b_priv(struct hart_state *s) { s->priv = 2; }
static void b_pc(struct hart_state *s) { s->pc |= 1; }
static void b_mpp(struct hart_state *s) { s->mstatus = 2ull << 11; }
static void b_satp(struct hart_state *s) { s->satp = 10ull << 60; }
static void b_tvec(struct hart_state *s) { s->stvec = 2; }
static void b_fcsr(struct hart_state *s) { s->fcsr = 0x100; }
static void b_mie(struct hart_state *s) { s->mie = 1ull << 13; }

static void test_each_invariant(void **state)
{
	(void)state;
	expect(b_x0, "x0");
	expect(b_priv, "privilege");
	expect(b_pc, "pc");
	expect(b_mpp, "MPP");
	expect(b_satp, "satp");
	expect(b_tvec, "tvec");
	expect(b_fcsr, "fcsr");
	expect(b_mie, "mie");
}

static void test_check_stops(void **state)
{
	int p[2], st = 0;
	char buf[4096];
	ssize_t n;
	pid_t pid;
	(void)state;
	assert_int_equal(pipe(p), 0);
	pid = fork();
	if (pid == 0) {
		struct hart_state s;
		dup2(p[1], 2);
		good_state(&s);
		dbg_check_hart(&s);   /* passes */
		s.hartid = 1;
		s.priv = 2;
		dbg_check_hart(&s);   /* stops */
		_exit(0);
	}
	close(p[1]);
	n = read(p[0], buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = 0;
	close(p[0]);
	waitpid(pid, &st, 0);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 70);
	assert_non_null(strstr(buf, "hart 1 state check: privilege level is not U, S or M"));
}

static void test_format_hart(void **state)
{
	struct hart_state s;
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	(void)state;
	good_state(&s);
	s.x[10] = 0x1234;
	s.scause = 0xd;
	crashrep_format_hart(f, &s);
	fclose(f);
	assert_non_null(strstr(out, "pc 0000000080000000 priv 3"));
	assert_non_null(strstr(out, "a0   0000000000001234"));
	assert_non_null(strstr(out, "scause 000000000000000d"));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_each_invariant),
		cmocka_unit_test(test_check_stops),
		cmocka_unit_test(test_format_hart),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
