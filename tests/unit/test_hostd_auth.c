/*
 * test_hostd_auth.c - users, argon2id hashes, sessions, the slowing of failed
 * logins, and tasks as stored in hostd's SQLite inventory.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "hostd/hostd.h"

static char g_tmp[PATH_MAX];

static int setup(void **state)
{
	char p[PATH_MAX + 32];
	struct verr e = { "" };

	snprintf(g_tmp, sizeof(g_tmp), "/tmp/test_hostd_auth.XXXXXX");
	if (!mkdtemp(g_tmp) || auth_init() < 0)
		return -1;
	snprintf(p, sizeof(p), "%s/hostd.db", g_tmp);
	return db_open(p, &e);
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];
	db_close();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", g_tmp);
	return system(cmd) == 0 ? 0 : -1;
}

static uint64_t ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void test_roles(void **state)
{
	enum role r;
	assert_int_equal(role_parse("admin", &r), 0);
	assert_int_equal(r, ROLE_ADMIN);
	assert_int_equal(role_parse("read-only", &r), 0);
	assert_int_equal(r, ROLE_READONLY);
	assert_int_equal(role_parse("root", &r), -EINVAL);
	assert_int_equal(role_parse(NULL, &r), -EINVAL);
	assert_string_equal(role_name(ROLE_READONLY), "read-only");
}

static void test_user_hash_is_argon2id(void **state)
{
	struct verr e = { "" };
	json_t *rows;
	const char *hash;

	assert_int_equal(auth_user_add("alice", "correct horse", ROLE_ADMIN, &e), 0);
	rows = db_query("SELECT hash, role FROM users WHERE name='alice'", 0, NULL);
	assert_int_equal(json_array_size(rows), 1);
	hash = json_string_value(json_object_get(json_array_get(rows, 0), "hash"));
	assert_non_null(hash);
	assert_true(strncmp(hash, "$argon2id$", 10) == 0);
	assert_null(strstr(hash, "correct horse"));
	json_decref(rows);
	assert_int_equal(auth_user_add("bad name", "password", ROLE_ADMIN, &e), -EINVAL);
	assert_true(strncmp(e.msg, "name:", 5) == 0);
	assert_int_equal(auth_user_add("bob", "pw", ROLE_ADMIN, &e), -EINVAL);
	assert_true(strncmp(e.msg, "password:", 9) == 0);
}

static void test_login_session_logout(void **state)
{
	struct verr e = { "" };
	char token[65], user[64] = "";
	enum role r = ROLE_NONE;
	unsigned retry;

	assert_int_equal(auth_user_add("carol", "s3cret-pw", ROLE_READONLY, &e), 0);
	assert_int_equal(auth_login("carol", "s3cret-pw", token, &r, &retry), 0);
	assert_int_equal(r, ROLE_READONLY);
	assert_int_equal(strlen(token), 64);
	assert_int_equal(auth_session(token, user, sizeof(user)), ROLE_READONLY);
	assert_string_equal(user, "carol");
	/* The token itself is not stored, only its hash. */
	const char *p[] = { token };
	json_t *rows = db_query("SELECT * FROM sessions WHERE token_hash=?", 1, p);
	assert_int_equal(json_array_size(rows), 0);
	json_decref(rows);
	token[0] = token[0] == 'a' ? 'b' : 'a';
	assert_int_equal(auth_session(token, user, sizeof(user)), ROLE_NONE);
	token[0] = token[0] == 'a' ? 'b' : 'a';
	auth_logout(token);
	assert_int_equal(auth_session(token, user, sizeof(user)), ROLE_NONE);
	assert_int_equal(auth_session("short", user, sizeof(user)), ROLE_NONE);
	assert_int_equal(auth_session(NULL, user, sizeof(user)), ROLE_NONE);
}

static void test_failed_logins_slow_down(void **state)
{
	struct verr e = { "" };
	char token[65];
	enum role r;
	unsigned retry;
	uint64_t t0, t1, t2;

	assert_int_equal(auth_user_add("dave", "right-pw", ROLE_ADMIN, &e), 0);
	t0 = ms();
	assert_int_equal(auth_login("dave", "wrong", token, &r, &retry), -EACCES);
	t1 = ms();
	assert_int_equal(auth_login("dave", "wrong", token, &r, &retry), -EACCES);
	t2 = ms();
	assert_true(t1 - t0 >= 250);
	assert_true(t2 - t1 >= 500);
	/* Unknown names fail the same way. */
	assert_int_equal(auth_login("nobody", "x", token, &r, &retry), -EACCES);
	/*
	 * A success resets the count: two failures came before it, so three more
	 * would reach the lock (AUTH_LOCK_AFTER = 5) without the reset, and the
	 * right password would then be refused.  No timing upper bound: the
	 * machine may be loaded.
	 */
	assert_int_equal(auth_login("dave", "right-pw", token, &r, &retry), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(auth_login("dave", "wrong", token, &r, &retry), -EACCES);
	assert_int_equal(auth_login("dave", "right-pw", token, &r, &retry), 0);
	assert_int_equal(auth_user_del("dave", &e), 0);
	assert_int_equal(auth_user_del("dave", &e), -ENOENT);
	assert_int_equal(auth_login("dave", "right-pw", token, &r, &retry), -EACCES);
}

static void test_tasks(void **state)
{
	int id = task_new(7, "changeBuildType", "alice", json_pack("{s:s}", "buildType", "debug"));
	json_t *t;

	assert_true(id > 0);
	task_progress(id, 40, "saving");
	task_phase(id, "stop", 12);
	task_phase(id, "save", 340);
	t = task_get(id);
	assert_string_equal(json_string_value(json_object_get(t, "state")), "running");
	assert_int_equal(json_integer_value(json_object_get(t, "progress")), 40);
	assert_int_equal(json_array_size(json_object_get(t, "phases")), 2);
	json_decref(t);
	json_t *run = task_interrupted();
	assert_int_equal(json_array_size(run), 1);
	json_decref(run);
	task_finish(id, json_pack("{s:i}", "pid", 42), NULL);
	t = task_get(id);
	assert_string_equal(json_string_value(json_object_get(t, "state")), "success");
	assert_int_equal(json_integer_value(json_object_get(t, "progress")), 100);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(t, "result"), "pid")), 42);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(t, "phases"), 1), "ms")), 340);
	json_decref(t);
	run = task_interrupted();
	assert_int_equal(json_array_size(run), 0);
	json_decref(run);
	int id2 = task_new(7, "powerOn", "bob", NULL);
	task_finish(id2, NULL, "no vmx binary");
	t = task_list(10);
	assert_int_equal(json_array_size(t), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(t, 0), "id")), id2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(t, 0), "error")), "no vmx binary");
	json_decref(t);
	assert_null(task_get(99999));
}

static void test_events(void **state)
{
	json_t *rows;
	db_event("alice", 3, "buildTypeChanged", "vmx.buildType %s -> %s", "default", "stats");
	rows = db_query("SELECT * FROM events WHERE type='buildTypeChanged'", 0, NULL);
	assert_int_equal(json_array_size(rows), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "user")), "alice");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(rows, 0), "vm_id")), 3);
	assert_non_null(json_string_value(json_object_get(json_array_get(rows, 0), "time")));
	json_decref(rows);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roles),
		cmocka_unit_test(test_user_hash_is_argon2id),
		cmocka_unit_test(test_login_session_logout),
		cmocka_unit_test(test_failed_logins_slow_down),
		cmocka_unit_test(test_tasks),
		cmocka_unit_test(test_events),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
