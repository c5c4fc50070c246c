/*
 * assertfail.c - a failing VMX_ASSERT for tests/integration/stats_beta.sh.
 *
 *   assertfail DIR
 *
 * Logs a few lines, starts a helper thread that sleeps in a named function,
 * registers a guest-state dump (one made-up hart), then checks something
 * false with VMX_ASSERT.  Beta writes vmx-crash-*.txt into DIR and exits 70;
 * release compiles the check out and prints "completed".
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "cpu/hart_state.h"
#include "debug/crashrep.h"
#include "lib/log.h"

static void dump_guest(FILE *f, void *ctx)
{
	struct hart_state s;
	(void)ctx;
	memset(&s, 0, sizeof(s));
	s.pc = 0x80200000;
	s.priv = 1;
	s.x[10] = 0xdeadbeef;
	crashrep_format_hart(f, &s);
}

static void __attribute__((noinline)) helper_sleeping_here(void)
{
	for (;;)
		pause();
}

static void *helper(void *arg)
{
	(void)arg;
	log_set_thread_name("helper");
	helper_sleeping_here();
	return NULL;
}

static void __attribute__((noinline)) check_device_state(int regs)
{
	VMX_ASSERT(regs == 4);
}

int main(int argc, char **argv)
{
	struct verr e = { "" };
	pthread_t t;

	if (argc != 2) {
		fprintf(stderr, "usage: assertfail DIR\n");
		return 2;
	}
	if (log_open(argv[1], "vmx", 0, VMX_BUILDTYPE_NAME, false, &e) < 0) {
		fprintf(stderr, "%s\n", e.msg);
		return 1;
	}
	crashrep_install(argv[1]);
	crashrep_set_guest_dump(dump_guest, NULL);
	pthread_create(&t, NULL, helper, NULL);
	for (int i = 0; i < 5; i++)
		LOG_INF("assertfail: step %d", i);
	usleep(20000);
	check_device_state(argc + 1);
	printf("completed\n");
	log_close();
	return 0;
}
