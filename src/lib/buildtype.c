/*
 * buildtype.c - vmx.buildType values and the binaries they select.
 */
#include <errno.h>
#include <strings.h>
#include "buildtype.h"

static const struct {
	const char *name, *binary, *compiled;
} types[BUILDTYPE_COUNT] = {
	[BUILDTYPE_DEFAULT] = { "default", "vmx", "release" },
	[BUILDTYPE_DEBUG] = { "debug", "vmx-debug", "beta" },
	[BUILDTYPE_STATS] = { "stats", "vmx-stats", "stats" },
};

int buildtype_parse(const char *s, enum buildtype *out)
{
	if (strcasecmp(s, "release") == 0) {
		*out = BUILDTYPE_DEFAULT;
		return 0;
	}
	for (int i = 0; i < BUILDTYPE_COUNT; i++) {
		if (strcasecmp(s, types[i].name) == 0) {
			*out = (enum buildtype)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *buildtype_name(enum buildtype t) { return types[t].name; }
const char *buildtype_binary(enum buildtype t) { return types[t].binary; }
const char *buildtype_compiled_name(enum buildtype t) { return types[t].compiled; }

int buildtype_from_cfg(const struct cfg *c, enum buildtype *out, struct verr *e)
{
	const char *v = cfg_get(c, BUILDTYPE_KEY);
	*out = BUILDTYPE_DEFAULT;
	if (!v)
		return 0;
	if (buildtype_parse(v, out) < 0)
		return verr_set(e, -EINVAL,
				"%s:%u: key '%s': unknown build type \"%s\" (expected default, debug or stats)",
				cfg_name(c), cfg_line(c, BUILDTYPE_KEY), BUILDTYPE_KEY, v);
	return 0;
}
