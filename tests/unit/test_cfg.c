/*
 * test_cfg.c - the .vmx parser: syntax, errors naming file:line:key, typed
 * getters, and rewriting one key while keeping every other byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "lib/buildtype.h"
#include "lib/cfg.h"
#include "lib/fileutil.h"

static struct cfg *parse_ok(const char *text)
{
	struct cfg *c = NULL;
	struct verr e = { "" };
	int rc = cfg_parse("t.vmx", text, strlen(text), &c, &e);
	if (rc != 0)
		fail_msg("unexpected parse error: %s", e.msg);
	return c;
}

static void expect_error(const char *text, const char *needle)
{
	struct cfg *c = NULL;
	struct verr e = { "" };
	int rc = cfg_parse("bad.vmx", text, strlen(text), &c, &e);
	assert_int_equal(rc, -EINVAL);
	assert_null(c);
	if (!strstr(e.msg, needle))
		fail_msg("error \"%s\" does not contain \"%s\"", e.msg, needle);
}

static void test_basic(void **state)
{
	struct cfg *c = parse_ok("# comment\n\nmemSize = \"512\"\n  numvcpus=\"2\" # trailing\n"
				 "guest.cmdline = \"console=ttyS0 say \\\"hi\\\" \\\\ end\"\n");
	assert_string_equal(cfg_get(c, "memsize"), "512");
	assert_string_equal(cfg_get(c, "MEMSIZE"), "512");
	assert_string_equal(cfg_get(c, "numVCPUs"), "2");
	assert_string_equal(cfg_get(c, "guest.cmdline"), "console=ttyS0 say \"hi\" \\ end");
	assert_null(cfg_get(c, "missing"));
	assert_int_equal(cfg_line(c, "numvcpus"), 4);
	cfg_free(c);
}

static void test_errors_name_file_line_key(void **state)
{
	expect_error("a = \"1\"\nmemSize = 512\n", "bad.vmx:2: key 'memSize': value must be in double quotes");
	expect_error("a = \"1\"\nb = \"1\"\nfoo \"x\"\n", "bad.vmx:3: key 'foo': expected '='");
	expect_error("x = \"abc\n", "bad.vmx:1: key 'x': unterminated string");
	expect_error("x = \"a\" junk\n", "bad.vmx:1: key 'x': unexpected text after the value");
	expect_error("= \"a\"\n", "bad.vmx:1: expected a key");
	expect_error("x = \"a\\n\"\n", "bad.vmx:1: key 'x': invalid escape");
	expect_error("x = \"1\"\nX = \"2\"\n", "bad.vmx:2: key 'X' is set twice (first on line 1)");
	struct cfg *c = NULL;
	struct verr e = { "" };
	assert_int_equal(cfg_parse("nul.vmx", "a = \"1\"\0", 8, &c, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "nul.vmx"));
}

static void test_typed_getters(void **state)
{
	struct cfg *c = parse_ok("memSize = \"2048\"\nbad = \"12x\"\nflag = \"TRUE\"\nno = \"off\"\n"
				 "maybe = \"perhaps\"\nt = \"2h\"\nbig = \"99999\"\n");
	struct verr e = { "" };
	uint64_t v;
	bool b;

	assert_int_equal(cfg_get_u64(c, "memsize", 512, 1, 65536, &v, &e), 0);
	assert_int_equal(v, 2048);
	assert_int_equal(cfg_get_u64(c, "absent", 512, 1, 65536, &v, &e), 0);
	assert_int_equal(v, 512);
	assert_int_equal(cfg_get_u64(c, "bad", 0, 0, 10, &v, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "t.vmx:2: key 'bad'"));
	assert_int_equal(cfg_get_u64(c, "big", 0, 0, 1000, &v, &e), -ERANGE);
	assert_non_null(strstr(e.msg, "t.vmx:7: key 'big'"));
	assert_int_equal(cfg_get_bool(c, "flag", false, &b, &e), 0);
	assert_true(b);
	assert_int_equal(cfg_get_bool(c, "no", true, &b, &e), 0);
	assert_false(b);
	assert_int_equal(cfg_get_bool(c, "maybe", true, &b, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "t.vmx:5: key 'maybe'"));
	assert_int_equal(cfg_get_duration(c, "t", 0, &v, &e), 0);
	assert_int_equal(v, 7200);
	assert_int_equal(cfg_get_duration(c, "memSize", 0, &v, &e), 0);
	assert_int_equal(v, 2048);
	assert_int_equal(cfg_get_duration(c, "bad", 0, &v, &e), -EINVAL);
	cfg_free(c);
}

/* Numbers are decimal digits only: no octal, hex, sign, spaces or junk; overflow is refused. */
static void test_numbers_strict_decimal(void **state)
{
	struct cfg *c = parse_ok("memSize = \"0200\"\nhex = \"0x10\"\nneg = \"-5\"\nplus = \"+5\"\n"
				 "sp = \" 64\"\ntrail = \"64 \"\nempty = \"\"\n"
				 "huge = \"18446744073709551616\"\nmax = \"18446744073709551615\"\n"
				 "junk = \"64\t\"\nzero = \"0\"\n");
	struct verr e = { "" };
	uint64_t v = 0;

	assert_int_equal(cfg_get_u64(c, "memSize", 512, 16, 262144, &v, &e), 0);
	assert_int_equal(v, 200);
	static const struct { const char *key; unsigned line; } bad[] = {
		{ "hex", 2 }, { "neg", 3 }, { "plus", 4 }, { "sp", 5 }, { "trail", 6 },
		{ "empty", 7 }, { "junk", 10 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char want[64];
		v = 7;
		e.msg[0] = 0;
		assert_int_equal(cfg_get_u64(c, bad[i].key, 1, 0, 1000, &v, &e), -EINVAL);
		snprintf(want, sizeof(want), "t.vmx:%u: key '%s'", bad[i].line, bad[i].key);
		if (!strstr(e.msg, want) || !strstr(e.msg, "not a number"))
			fail_msg("%s: error \"%s\" lacks \"%s\"", bad[i].key, e.msg, want);
	}
	/* The tab shows as an escape, so the message stays on one line. */
	assert_non_null(strstr(e.msg, "64\\x09"));
	assert_int_equal(cfg_get_u64(c, "huge", 0, 0, UINT64_MAX, &v, &e), -ERANGE);
	assert_non_null(strstr(e.msg, "t.vmx:8: key 'huge'"));
	assert_non_null(strstr(e.msg, "too large"));
	assert_int_equal(cfg_get_u64(c, "max", 0, 0, UINT64_MAX, &v, &e), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(cfg_get_u64(c, "zero", 5, 1, 10, &v, &e), -ERANGE);
	assert_non_null(strstr(e.msg, "t.vmx:11: key 'zero': 0 is out of range (1..10)"));
	cfg_free(c);

	assert_int_equal(cfg_parse_u64("0200", &v), 0);
	assert_int_equal(v, 200);
	assert_int_equal(cfg_parse_u64("64\x01", &v), -EINVAL);
	assert_int_equal(cfg_parse_u64("-5", &v), -EINVAL);
	assert_int_equal(cfg_parse_u64("99999999999999999999", &v), -ERANGE);
	assert_int_equal(cfg_parse_duration("010m", &v), 0);
	assert_int_equal(v, 600);
	assert_int_equal(cfg_parse_duration("99999999999999999999s", &v), -ERANGE);
	assert_int_equal(cfg_parse_duration("-1s", &v), -EINVAL);
}

/* A control byte in a value never gets as far as a number getter: the parser names it. */
static void test_control_byte_refused(void **state)
{
	expect_error("a = \"1\"\nmemSize = \"64\x01\"\n", "bad.vmx:2: key 'memSize': control character");
}

static const char *original =
	"# my VM\r\n"
	"  .encoding = \"UTF-8\"   # odd spacing kept\n"
	"memSize=\"512\"\n"
	"\n"
	"VMX.BuildType = \"debug\"  # who: alice\n"
	"\tdisk0.fileName = \"disk.img\"\n"
	"# end, no newline after this line";

static void test_rewrite_keeps_other_bytes(void **state)
{
	struct cfg *c = parse_ok(original);
	size_t len;
	char *out;

	assert_int_equal(cfg_set(c, "vmx.buildtype", "stats"), 0);
	out = cfg_serialize(c, &len);
	const char *expect =
		"# my VM\r\n"
		"  .encoding = \"UTF-8\"   # odd spacing kept\n"
		"memSize=\"512\"\n"
		"\n"
		"VMX.BuildType = \"stats\"\n"
		"\tdisk0.fileName = \"disk.img\"\n"
		"# end, no newline after this line";
	assert_string_equal(out, expect);
	assert_int_equal(len, strlen(expect));
	free(out);

	/* Appending a new key adds exactly one line at the end. */
	assert_int_equal(cfg_set(c, "ustats.interval", "5000000"), 0);
	out = cfg_serialize(c, &len);
	assert_non_null(strstr(out, "# end, no newline after this line\nustats.interval = \"5000000\""));
	free(out);
	assert_int_equal(cfg_set(c, "bad key", "x"), -EINVAL);
	assert_int_equal(cfg_set(c, "k", "line\nbreak"), -EINVAL);
	cfg_free(c);
}

static void test_unchanged_roundtrip(void **state)
{
	struct cfg *c = parse_ok(original);
	size_t len;
	char *out = cfg_serialize(c, &len);
	assert_int_equal(len, strlen(original));
	assert_memory_equal(out, original, len);
	free(out);
	cfg_free(c);
}

static void test_save_atomic(void **state)
{
	char dir[] = "/tmp/vmx3-cfgtest-XXXXXX", path[256], tmpl[300];
	struct cfg *c;
	struct verr e = { "" };
	char *buf;
	size_t len;
	struct stat st;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/vm.vmx", dir);
	FILE *f = fopen(path, "w");
	fputs(original, f);
	fclose(f);
	chmod(path, 0640);
	assert_int_equal(cfg_load(path, &c, &e), 0);
	assert_int_equal(cfg_set(c, "memSize", "1024"), 0);
	assert_int_equal(cfg_save(c, path, &e), 0);
	cfg_free(c);
	assert_int_equal(file_read_all(path, 1 << 20, &buf, &len, &e), 0);
	assert_non_null(strstr(buf, "memSize = \"1024\"\n"));
	assert_non_null(strstr(buf, "VMX.BuildType = \"debug\"  # who: alice\n"));
	free(buf);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	/* No temporary file is left behind. */
	snprintf(tmpl, sizeof(tmpl), "ls %s | wc -l | grep -qx 1", dir);
	assert_int_equal(system(tmpl), 0);
	/* A failed save (directory gone) reports the path and leaves nothing behind. */
	char bad[300];
	snprintf(bad, sizeof(bad), "%s/nodir/vm.vmx", dir);
	assert_int_equal(cfg_parse("x", "a = \"1\"\n", 8, &c, &e), 0);
	assert_true(cfg_save(c, bad, &e) < 0);
	assert_non_null(strstr(e.msg, "nodir/vm.vmx"));
	cfg_free(c);
	snprintf(tmpl, sizeof(tmpl), "rm -rf %s", dir);
	assert_int_equal(system(tmpl), 0);
}

static void test_buildtype(void **state)
{
	enum buildtype t;
	struct verr e = { "" };
	assert_int_equal(buildtype_parse("default", &t), 0);
	assert_int_equal(t, BUILDTYPE_DEFAULT);
	assert_int_equal(buildtype_parse("Release", &t), 0);
	assert_int_equal(t, BUILDTYPE_DEFAULT);
	assert_int_equal(buildtype_parse("DEBUG", &t), 0);
	assert_string_equal(buildtype_binary(t), "vmx-debug");
	assert_int_equal(buildtype_parse("stats", &t), 0);
	assert_string_equal(buildtype_binary(t), "vmx-stats");
	assert_int_equal(buildtype_parse("fast", &t), -EINVAL);

	struct cfg *c = parse_ok("a = \"1\"\nvmx.buildType = \"turbo\"\n");
	assert_int_equal(buildtype_from_cfg(c, &t, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "t.vmx:2: key 'vmx.buildType': unknown build type \"turbo\""));
	cfg_free(c);
	c = parse_ok("a = \"1\"\n");
	assert_int_equal(buildtype_from_cfg(c, &t, &e), 0);
	assert_int_equal(t, BUILDTYPE_DEFAULT);
	cfg_free(c);
}

/* guest.userSymbols-style lists: "PROG:FILE; FILE; ..." */
static void test_next_program(void **state)
{
	const char *v = " cpu:/g/bin/vmx3-cpu ;; /d:x/prog ; plain;a:  ";
	char prog[16], file[64];
	(void)state;
	assert_true(cfg_next_program(&v, prog, sizeof(prog), file, sizeof(file)));
	assert_string_equal(prog, "cpu");
	assert_string_equal(file, "/g/bin/vmx3-cpu");
	/* A colon after a '/' belongs to the file's name; empty entries are skipped. */
	assert_true(cfg_next_program(&v, prog, sizeof(prog), file, sizeof(file)));
	assert_string_equal(prog, "");
	assert_string_equal(file, "/d:x/prog");
	assert_true(cfg_next_program(&v, prog, sizeof(prog), file, sizeof(file)));
	assert_string_equal(prog, "");
	assert_string_equal(file, "plain");
	/* A program with no file: the caller refuses it. */
	assert_true(cfg_next_program(&v, prog, sizeof(prog), file, sizeof(file)));
	assert_string_equal(prog, "a");
	assert_string_equal(file, "");
	assert_false(cfg_next_program(&v, prog, sizeof(prog), file, sizeof(file)));
	assert_int_equal(*v, 0);
	/* Too long: false, and the cursor still on the entry. */
	v = "p:0123456789012345678901234567890123456789012345678901234567890123456789";
	assert_false(cfg_next_program(&v, prog, sizeof(prog), file, sizeof(file)));
	assert_int_not_equal(*v, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_errors_name_file_line_key),
		cmocka_unit_test(test_typed_getters),
		cmocka_unit_test(test_numbers_strict_decimal),
		cmocka_unit_test(test_control_byte_refused),
		cmocka_unit_test(test_rewrite_keeps_other_bytes),
		cmocka_unit_test(test_unchanged_roundtrip),
		cmocka_unit_test(test_save_atomic),
		cmocka_unit_test(test_buildtype),
		cmocka_unit_test(test_next_program),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
