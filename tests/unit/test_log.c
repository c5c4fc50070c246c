/*
 * test_log.c - vmx.log: rotation order and count, and the fixed line 1.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "lib/fileutil.h"
#include "lib/log.h"

static char dir[64];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/vmx3-logtest-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];
	log_close();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static char *read_file(const char *name)
{
	char path[256], *buf;
	size_t len;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (file_read_all(path, 1 << 20, &buf, &len, NULL) < 0)
		return NULL;
	return buf;
}

static void test_header_line_form(void **state)
{
	char line[512];
	regex_t re;
	log_header_line(line, sizeof(line), "stats");
	assert_int_equal(regcomp(&re, "^Log for vmx3 pid=[0-9]+ version=[^ ]+ build=[^ ]+ "
				 "buildType=stats hostKernel=[^ ]+$", REG_EXTENDED), 0);
	assert_int_equal(regexec(&re, line, 0, NULL, 0), 0);
	regfree(&re);
}

static void test_rotation_keeps_n_in_order(void **state)
{
	struct verr e = { "" };
	/* Seven processes in a row, each writing its generation number. */
	for (int gen = 0; gen < 7; gen++) {
		assert_int_equal(log_open(dir, "vmx", 3, "release", false, &e), 0);
		log_msg(LOG_INFO, "generation %d", gen);
		log_close();
	}
	const char *names[] = { "vmx.log", "vmx-0.log", "vmx-1.log", "vmx-2.log" };
	for (int i = 0; i < 4; i++) {
		char *b = read_file(names[i]);
		char want[32];
		assert_non_null(b);
		assert_true(strncmp(b, "Log for vmx3 pid=", 17) == 0);
		snprintf(want, sizeof(want), "generation %d", 6 - i);
		if (!strstr(b, want))
			fail_msg("%s does not hold %s", names[i], want);
		free(b);
	}
	assert_null(read_file("vmx-3.log"));
}

static void test_line_format_and_levels(void **state)
{
	struct verr e = { "" };
	regex_t re;
	int saved = log_level_cur;
	assert_int_equal(log_open(dir, "vmx", 6, "beta", false, &e), 0);
	log_set_thread_name("vcpu-0");
	log_level_cur = LOG_INFO;
	LOG(LOG_VERBOSE, "hidden %d", 1);
	LOG_INF("shown with\nnewline");
	log_close();
	log_level_cur = saved;
	char *b = read_file("vmx.log");
	assert_non_null(b);
	assert_null(strstr(b, "hidden"));
	char *second = strchr(b, '\n') + 1;
	assert_int_equal(regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z vcpu-0 I shown with newline\n$",
				 REG_EXTENDED), 0);
	assert_int_equal(regexec(&re, second, 0, NULL, 0), 0);
	regfree(&re);
	free(b);
	char tail[2048];
	log_tail(tail, sizeof(tail), 1);
	assert_non_null(strstr(tail, "shown with newline"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_line_form),
		cmocka_unit_test_setup_teardown(test_rotation_keeps_n_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_line_format_and_levels, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
