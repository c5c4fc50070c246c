/*
 * vmcfg.c - checks what an API client puts into a .vmx or its inventory:
 * VM names, and the values of keys at create.
 *
 * A value that vmx would later refuse, or read differently from what the
 * client meant (a number with trailing junk, a negative memory size), is
 * refused here with the key named, before any file is written.  Names appear
 * in every tool's output, so they may not carry control characters (a newline
 * or an ANSI escape would forge lines on an operator's terminal).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "../lib/buildtype.h"
#include "hostd.h"

int vmcfg_check_name(const char *field, const char *name, struct verr *e)
{
	size_t n = strlen(name);

	if (n == 0)
		return verr_set(e, -EINVAL, "%s: must not be empty", field);
	if (n > HOSTD_NAME_MAX)
		return verr_set(e, -EINVAL, "%s: %zu bytes; at most %d are allowed", field, n,
				HOSTD_NAME_MAX);
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		/* C0 controls, DEL, and C1 controls as UTF-8 (U+0080..U+009F). */
		if (*p < 0x20 || *p == 0x7f || (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
			return verr_set(e, -EINVAL, "%s: control characters (byte 0x%02x at offset "
					"%zu) are not allowed", field, *p == 0xc2 ? p[1] : *p,
					(size_t)(p - (const unsigned char *)name));
	}
	return 0;
}

struct num_key {
	const char *key;
	uint64_t min, max;
};

/* Numeric keys and the ranges vmx accepts (docs/CONFIG.md). */
static const struct num_key num_keys[] = {
	{ "memSize", 16, 256 * 1024 },
	{ "numvcpus", 1, 8 },
	{ "log.keepOld", 0, 100 },
	{ "ustats.interval", 100000, 24ull * 3600 * 1000000 },
	{ "vmx.callstackMaxFootprintMB", 1, 4096 },
	{ "monitor.callstackTestSlowUs", 0, 100000 },
};

static const char *const bool_keys[] = {
	"monitor.deterministic", "stats.enable", "monitor.callstack", "vmx.MXUser.statsEnabled",
};

static bool is_bool_key(const char *key)
{
	const char *dot = strchr(key, '.');

	for (size_t i = 0; i < sizeof(bool_keys) / sizeof(bool_keys[0]); i++)
		if (!strcasecmp(key, bool_keys[i]))
			return true;
	/* diskN.readOnly */
	return !strncasecmp(key, "disk", 4) && dot && dot > key + 4 &&
	       strspn(key + 4, "0123456789") == (size_t)(dot - key - 4) &&
	       !strcasecmp(dot, ".readOnly");
}

static bool bool_word(const char *s)
{
	static const char *const w[] = { "true", "false", "yes", "no", "on", "off", "1", "0" };
	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++)
		if (!strcasecmp(s, w[i]))
			return true;
	return false;
}

int vmcfg_value(const char *key, json_t *val, char *out, size_t len, struct verr *e)
{
	const struct num_key *nk = NULL;
	const char *s;

	for (size_t i = 0; i < sizeof(num_keys) / sizeof(num_keys[0]); i++)
		if (!strcasecmp(key, num_keys[i].key))
			nk = &num_keys[i];
	if (json_is_integer(val)) {
		json_int_t v = json_integer_value(val);
		if (nk && (v < 0 || (uint64_t)v < nk->min || (uint64_t)v > nk->max))
			return verr_set(e, -EINVAL, "%s: %lld is out of range %llu..%llu", key,
					(long long)v, (unsigned long long)nk->min,
					(unsigned long long)nk->max);
		if (!nk && v < 0)
			return verr_set(e, -EINVAL, "%s: negative numbers are not allowed", key);
		snprintf(out, len, "%lld", (long long)v);
		s = out;
	} else if (json_is_boolean(val)) {
		if (!is_bool_key(key))
			return verr_set(e, -EINVAL, "%s: not a boolean key; give a string", key);
		snprintf(out, len, "%s", json_is_true(val) ? "TRUE" : "FALSE");
		return 0;
	} else if (json_is_string(val)) {
		s = json_string_value(val);
		if (strlen(s) != json_string_length(val))
			return verr_set(e, -EINVAL, "%s: NUL characters are not allowed", key);
		for (const char *p = s; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				return verr_set(e, -EINVAL, "%s: control characters are not allowed in "
						"values", key);
		if ((size_t)snprintf(out, len, "%s", s) >= len)
			return verr_set(e, -EINVAL, "%s: value longer than %zu bytes", key, len - 1);
	} else {
		return verr_set(e, -EINVAL, "%s: values are strings, integers or booleans", key);
	}
	if (nk) {
		/* Decimal only: no sign, no leading zero (vmx must not read it as octal). */
		char *end;
		unsigned long long v;
		if (!*s || strspn(s, "0123456789") != strlen(s) || (s[0] == '0' && s[1]))
			return verr_set(e, -EINVAL, "%s: \"%s\" is not a decimal number", key, s);
		errno = 0;
		v = strtoull(s, &end, 10);
		if (errno || v < nk->min || v > nk->max)
			return verr_set(e, -EINVAL, "%s: %s is out of range %llu..%llu", key, s,
					(unsigned long long)nk->min, (unsigned long long)nk->max);
	} else if (is_bool_key(key)) {
		if (!bool_word(s))
			return verr_set(e, -EINVAL, "%s: \"%s\" is not TRUE/FALSE, yes/no, on/off, 1/0",
					key, s);
	} else if (!strcasecmp(key, BUILDTYPE_KEY)) {
		enum buildtype bt;
		if (buildtype_parse(s, &bt) < 0)
			return verr_set(e, -EINVAL, "%s: \"%s\" is not default, debug or stats", key, s);
	} else if (!strcasecmp(key, "displayName")) {
		return vmcfg_check_name(key, s, e);
	}
	return 0;
}
