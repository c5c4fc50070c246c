/*
 * test_stats.c - stats counters: per-slot counting, array clamping, run-time
 * registration, the enable switch, the sorted report and the Prometheus text.
 * Linked against the obj library, which is a stats build: say so before the
 * headers so their declarations match the library.
 */
#define VMX_STATS 1
#define VMX_DEBUG 1
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lib/mxuser.h"
#include "stats/kstat.h"
#include "stats/stats.h"
#include "stats/stats_ctl.h"

static int setup(void **state)
{
	(void)state;
	stats_reset();
	stats_set_enabled(true);
	stats_set_slot(STATS_SLOT_OTHER);
	return 0;
}

static void *count_on_slot1(void *arg)
{
	(void)arg;
	stats_set_slot(1);
	for (int i = 0; i < 1000; i++)
		STAT_INC(VIRTIO_REQ);
	return NULL;
}

static void test_per_slot(void **state)
{
	pthread_t t;
	(void)state;
	for (int i = 0; i < 7; i++)
		STAT_INC(VIRTIO_REQ);
	STAT_ADD(VIRTIO_BLK_BYTES, 4096);
	pthread_create(&t, NULL, count_on_slot1, NULL);
	pthread_join(t, NULL);
	assert_int_equal(stats_get(STATS_SLOT_OTHER, STAT_VIRTIO_REQ), 7);
	assert_int_equal(stats_get(1, STAT_VIRTIO_REQ), 1000);
	assert_int_equal(stats_total(STAT_VIRTIO_REQ), 1007);
	assert_int_equal(stats_total(STAT_VIRTIO_BLK_BYTES), 4096);
	assert_int_equal(stats_total(STAT_VIRTIO_NOTIFY), 0);
}

static void test_array_clamps(void **state)
{
	char name[STATS_NAME_MAX];
	(void)state;
	STAT_INC_IDX(TRAP_EXC, 13);
	STAT_INC_IDX(TRAP_EXC, 13);
	STAT_INC_IDX(TRAP_EXC, 1000);   /* out of range: last element */
	STAT_INC_IDX(TRAP_EXC, -1);     /* out of range: last element */
	assert_int_equal(stats_total(STAT_TRAP_EXC + 13), 2);
	assert_int_equal(stats_total(STAT_TRAP_EXC + 15), 2);
	assert_int_equal(stats_total(STAT_TRAP_IRQ), 0);
	assert_string_equal(stats_name(STAT_TRAP_EXC + 13, name, sizeof(name)), "TRAP_EXC.13");
	assert_string_equal(stats_name(STAT_CTL_COMMAND, name, sizeof(name)), "CTL_COMMAND");
	assert_int_equal(STAT_TRAP_IRQ - STAT_TRAP_EXC, 16);
}

static void test_register(void **state)
{
	char name[STATS_NAME_MAX];
	int a, b, c;
	(void)state;
	a = stats_register("MMIO.uart.THR", "UART transmit register writes");
	b = stats_register("MMIO.uart.LSR", "UART line status reads");
	c = stats_register("MMIO.uart.THR", "again");
	assert_true(a >= STAT_COUNT);
	assert_int_not_equal(a, b);
	assert_int_equal(a, c);
	assert_int_equal(stats_register("UART_TX", "static name"), STAT_UART_TX);
	for (int i = 0; i < 5; i++)
		STAT_INC_DYN(a);
	STAT_INC_DYN(-28); /* a failed registration is ignored */
	assert_int_equal(stats_total((unsigned)a), 5);
	assert_string_equal(stats_name((unsigned)a, name, sizeof(name)), "MMIO.uart.THR");
	assert_string_equal(stats_desc((unsigned)a), "UART transmit register writes");
	assert_true(stats_ncounters() > (unsigned)b);
}

static void test_disabled(void **state)
{
	(void)state;
	stats_set_enabled(false);
	STAT_INC(SBI_CALL);
	kstat_push(KSTAT_CSR);
	stats_set_enabled(true);
	assert_int_equal(stats_total(STAT_SBI_CALL), 0);
	assert_int_equal(kstat_invocations(STATS_SLOT_OTHER, KSTAT_CSR), 0);
	STAT_INC(SBI_CALL);
	assert_int_equal(stats_total(STAT_SBI_CALL), 1);
}

static char *capture(void (*fn)(FILE *))
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	fn(f);
	fclose(f);
	return buf;
}

static void test_report_sorted(void **state)
{
	char *out;
	(void)state;
	STAT_ADD(UART_TX, 5);
	STAT_ADD(UART_RX, 50);
	STAT_ADD(PLIC_CLAIM, 3);
	out = capture(stats_report);
	assert_non_null(strstr(out, "UART_RX"));
	assert_true(strstr(out, "UART_RX") < strstr(out, "UART_TX"));
	assert_true(strstr(out, "UART_TX") < strstr(out, "PLIC_CLAIM"));
	assert_null(strstr(out, "PLIC_COMPLETE")); /* zero counters are left out */
	free(out);
}

static void test_prometheus(void **state)
{
	char *out;
	(void)state;
	STAT_ADD(UART_RX, 42);
	kstat_push(KSTAT_CTL);
	kstat_pop();
	out = capture(stats_prometheus);
	assert_non_null(strstr(out, "# TYPE vmx_counter_total counter\n"));
	assert_non_null(strstr(out, "vmx_counter_total{name=\"UART_RX\",vcpu=\"other\"} 42\n"));
	assert_non_null(strstr(out, "vmx_kstat_invocations_total{kstat=\"CTL\",vcpu=\"other\"} 1\n"));
	free(out);

	/* Lock acquisitions, labelled as vmx-getstats --prom labels them from the file. */
	struct mxuser_lock l;
	char want[128];
	assert_int_equal(mxuser_lock_init(&l, "promTest", MXUSER_RANK_LEAF), 0);
	for (int i = 0; i < 3; i++) {
		mxuser_lock(&l);
		mxuser_unlock(&l);
	}
	out = capture(stats_prometheus);
	assert_non_null(strstr(out, "# TYPE vmx_lock_acquisitions_total counter\n"));
	snprintf(want, sizeof(want), "vmx_lock_acquisitions_total{lock=\"promTest\",id=\"%d\"} 3\n",
		 mxuser_stats_index(&l.hdr));
	assert_non_null(strstr(out, want));
	free(out);
	mxuser_lock_destroy(&l);
}

static void test_ctl_views(void **state)
{
	const char *err = NULL;
	json_t *req = json_pack("{s:s}", "cmd", "stats"), *r, *c;
	size_t i;
	bool found = false;
	(void)state;
	stats_set_slot(2);
	STAT_ADD(PLIC_CLAIM, 9);
	kstat_push(KSTAT_IO_COMPLETE);
	kstat_pop();
	stats_set_slot(STATS_SLOT_OTHER);
	r = stats_ctl_stats(NULL, req, &err);
	assert_non_null(r);
	json_array_foreach(json_object_get(r, "counters"), i, c) {
		if (strcmp(json_string_value(json_object_get(c, "name")), "PLIC_CLAIM") != 0)
			continue;
		found = true;
		assert_int_equal(json_integer_value(json_object_get(c, "total")), 9);
		assert_int_equal(json_integer_value(json_array_get(json_object_get(c, "perSlot"), 2)), 9);
	}
	assert_true(found);
	json_decref(r);
	json_object_set_new(req, "format", json_string("prometheus"));
	r = stats_ctl_stats(NULL, req, &err);
	assert_non_null(strstr(json_string_value(json_object_get(r, "text")),
			       "vmx_counter_total{name=\"PLIC_CLAIM\",vcpu=\"2\"} 9"));
	json_decref(r);
	json_object_set_new(req, "format", json_string("xml"));
	assert_null(stats_ctl_stats(NULL, req, &err));
	assert_non_null(strstr(err, "format"));
	r = stats_ctl_kstats(NULL, req, &err);
	assert_non_null(r);
	found = false;
	json_array_foreach(json_object_get(r, "kstats"), i, c) {
		if (strcmp(json_string_value(json_object_get(c, "name")), "IO_COMPLETE") == 0) {
			found = true;
			assert_true(json_integer_value(json_object_get(c, "invocations")) >= 1);
		}
	}
	assert_true(found);
	json_decref(r);
	json_decref(req);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_per_slot, setup),
		cmocka_unit_test_setup(test_array_clamps, setup),
		cmocka_unit_test_setup(test_register, setup),
		cmocka_unit_test_setup(test_disabled, setup),
		cmocka_unit_test_setup(test_report_sorted, setup),
		cmocka_unit_test_setup(test_prometheus, setup),
		cmocka_unit_test_setup(test_ctl_views, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
