/*
 * test_kstat.c - kstats: invocations counted by push/start/vector, pops back
 * to the interrupted service, samples charged to the current kstat and its
 * stack (nested paths), and a thread blocked on a contended MXUser lock seen
 * as LOCK_WAIT by the sampler; self-sampling threads charge their own slots.
 */
#define VMX_STATS 1
#define VMX_DEBUG 1
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include "lib/mxuser.h"
#include "stats/kstat.h"
#include "stats/stats.h"

static int setup(void **state)
{
	(void)state;
	stats_set_enabled(true);
	kstat_reset();
	stats_set_slot(STATS_SLOT_OTHER);
	return 0;
}

static unsigned cur(unsigned slot)
{
	return kstat_vcpu_cur(&kstat_vcpus[slot]);
}

static void test_push_pop_vector(void **state)
{
	(void)state;
	kstat_attach(0);
	KSTAT_START(GUEST);
	for (int i = 0; i < 25; i++) {
		KSTAT_PUSH(MMIO);
		assert_int_equal(cur(0), KSTAT_MMIO);
		KSTAT_POP();
		assert_int_equal(cur(0), KSTAT_GUEST);
	}
	/* A trap whose cause is learnt later: vector moves the invocation. */
	KSTAT_PUSH(TRAP);
	KSTAT_VECTOR(TRAP_PAGEFAULT);
	KSTAT_PUSH(PAGE_WALK);
	assert_int_equal(atomic_load(&kstat_vcpus[0].levels),
			 ((uint64_t)(KSTAT_TRAP_PAGEFAULT + 1) << 8) | (KSTAT_PAGE_WALK + 1));
	KSTAT_POP();
	assert_int_equal(cur(0), KSTAT_TRAP_PAGEFAULT);
	KSTAT_POP();
	KSTAT_POP(); /* unbalanced: stays on the base */
	assert_int_equal(cur(0), KSTAT_GUEST);
	assert_int_equal(kstat_invocations(0, KSTAT_MMIO), 25);
	assert_int_equal(kstat_invocations(0, KSTAT_TRAP), 0);
	assert_int_equal(kstat_invocations(0, KSTAT_TRAP_PAGEFAULT), 1);
	assert_int_equal(kstat_invocations(0, KSTAT_PAGE_WALK), 1);
	assert_int_equal(kstat_invocations(0, KSTAT_GUEST), 1);
	assert_int_equal(kstat_invocations(1, KSTAT_MMIO), 0);
	kstat_detach();
	stats_set_slot(STATS_SLOT_OTHER);
}

static void test_deep_push(void **state)
{
	(void)state;
	kstat_attach(4);
	KSTAT_START(GUEST);
	for (int i = 0; i < KSTAT_DEPTH + 3; i++)
		KSTAT_PUSH(CSR);
	for (int i = 0; i < KSTAT_DEPTH + 3; i++)
		KSTAT_POP();
	assert_int_equal(cur(4), KSTAT_GUEST);
	assert_int_equal(kstat_invocations(4, KSTAT_CSR), KSTAT_DEPTH + 3);
	kstat_detach();
	stats_set_slot(STATS_SLOT_OTHER);
}

static void test_register(void **state)
{
	int a, b;
	(void)state;
	a = kstat_register("MMIO.uart", "UART register access");
	b = kstat_register("MMIO.uart", "same");
	assert_true(a >= KSTAT_STATIC_COUNT);
	assert_int_equal(a, b);
	assert_string_equal(kstat_name((unsigned)a), "MMIO.uart");
	assert_int_equal(kstat_register("GUEST", ""), KSTAT_GUEST);
}

static void test_sampling_paths(void **state)
{
	const int n = 20;
	uint64_t walk, sched, node_samples = 0;
	(void)state;
	kstat_attach(2);
	KSTAT_START(GUEST);
	KSTAT_PUSH(TRAP_PAGEFAULT);
	KSTAT_PUSH(PAGE_WALK);
	for (int i = 0; i < n; i++)
		kstat_sample_once();
	walk = kstat_samples(2, KSTAT_PAGE_WALK);
	sched = kstat_samples(2, KSTAT_HOST_SCHED);
	/* Every sample went somewhere; waiting for a host CPU is the only other place. */
	assert_int_equal(walk + sched, n);
	assert_int_equal(kstat_total_samples(2), n);
	assert_true(walk > 0);
	/* The nested view: GUEST > TRAP_PAGEFAULT > PAGE_WALK. */
	for (unsigned i = 0; i < kstat_npaths(); i++) {
		int p1, p2, p3;
		unsigned k1, k2, k3;
		kstat_path(i, &p1, &k1);
		if (k1 != KSTAT_PAGE_WALK || p1 < 0)
			continue;
		kstat_path((unsigned)p1, &p2, &k2);
		assert_int_equal(k2, KSTAT_TRAP_PAGEFAULT);
		assert_true(p2 >= 0);
		kstat_path((unsigned)p2, &p3, &k3);
		assert_int_equal(k3, KSTAT_GUEST);
		assert_int_equal(p3, -1);
		node_samples += kstat_path_samples(2, i);
	}
	assert_int_equal(node_samples, walk);
	/* A detached slot is not sampled. */
	kstat_detach();
	kstat_sample_once();
	assert_int_equal(kstat_total_samples(2), n);
	stats_set_slot(STATS_SLOT_OTHER);
}

static struct mxuser_lock lk;
static _Atomic int blocked_started;

static void *blocker(void *arg)
{
	(void)arg;
	kstat_attach(3);
	KSTAT_START(GUEST);
	atomic_store(&blocked_started, 1);
	mxuser_lock(&lk);
	mxuser_unlock(&lk);
	kstat_detach();
	return NULL;
}

static void test_lock_wait_sampled(void **state)
{
	pthread_t t;
	struct timespec ms = { 0, 1000000 };
	(void)state;
	assert_int_equal(mxuser_lock_init(&lk, "test.kstat", MXUSER_RANK_DEVICE), 0);
	mxuser_lock(&lk);
	pthread_create(&t, NULL, blocker, NULL);
	/* Sample until the blocked thread is seen in LOCK_WAIT (it must get there). */
	for (int i = 0; i < 5000 && kstat_samples(3, KSTAT_LOCK_WAIT) == 0; i++) {
		nanosleep(&ms, NULL);
		kstat_sample_once();
	}
	mxuser_unlock(&lk);
	pthread_join(t, NULL);
	assert_true(kstat_samples(3, KSTAT_LOCK_WAIT) > 0);
	assert_int_equal(kstat_invocations(3, KSTAT_LOCK_WAIT), 1);
	assert_int_equal(cur(3), KSTAT_GUEST);
	mxuser_lock_destroy(&lk);
}

static _Atomic int other_attached, other_release;

static void *other_thread(void *arg)
{
	(void)arg;
	kstat_attach(5);
	KSTAT_START(GUEST);
	atomic_store(&other_attached, 1);
	while (!atomic_load(&other_release))
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	kstat_detach();
	return NULL;
}

/*
 * A self-sampling thread charges its own slots, every tick it is handed
 * (the held-back ones too), and the stats thread's sampler leaves them
 * alone; a slot of another thread keeps the sampler needed.
 */
static void test_self_sampling(void **state)
{
	pthread_t t;
	uint64_t n;
	(void)state;
	assert_int_equal(kstat_self_begin(), 0);
	kstat_attach(4);
	KSTAT_START(GUEST);
	KSTAT_PUSH(IO_WAIT);
	assert_true(kstat_self_covers());
	kstat_sample_self(7);
	n = kstat_samples(4, KSTAT_IO_WAIT);
	/* All seven somewhere: on a busy host some may be run-queue waits. */
	assert_int_equal(n + kstat_samples(4, KSTAT_HOST_SCHED), 7);
	assert_int_equal(kstat_total_samples(4), 7);
	kstat_sample_once();
	assert_int_equal(kstat_total_samples(4), 7);

	pthread_create(&t, NULL, other_thread, NULL);
	while (!atomic_load(&other_attached))
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	assert_false(kstat_self_covers());
	kstat_sample_once();
	assert_int_equal(kstat_total_samples(5), 1);
	assert_int_equal(kstat_total_samples(4), 7);
	atomic_store(&other_release, 1);
	pthread_join(t, NULL);

	kstat_self_end_all();
	/* No longer self-sampling: the sampler takes the slot back, the tick does nothing. */
	kstat_sample_self(3);
	assert_int_equal(kstat_total_samples(4), 7);
	kstat_sample_once();
	assert_int_equal(kstat_total_samples(4), 8);
	kstat_detach();
	stats_set_slot(STATS_SLOT_OTHER);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_push_pop_vector, setup),
		cmocka_unit_test_setup(test_deep_push, setup),
		cmocka_unit_test_setup(test_register, setup),
		cmocka_unit_test_setup(test_sampling_paths, setup),
		cmocka_unit_test_setup(test_lock_wait_sampled, setup),
		cmocka_unit_test_setup(test_self_sampling, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
