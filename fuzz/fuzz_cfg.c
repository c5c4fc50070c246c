/*
 * fuzz_cfg.c - libFuzzer target for the .vmx parser: any input either parses
 * or gives an error naming the file; a parsed file serializes back to exactly
 * the input and survives a rewrite of one key.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "lib/cfg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfg *c = NULL;
	struct verr e = { "" };
	size_t len;
	char *out;

	if (cfg_parse("fuzz.vmx", (const char *)data, size, &c, &e) < 0) {
		if (!strstr(e.msg, "fuzz.vmx") && !strstr(e.msg, "out of memory"))
			abort();
		return 0;
	}
	out = cfg_serialize(c, &len);
	if (!out || len != size || memcmp(out, data, size) != 0)
		abort();
	free(out);
	if (cfg_set(c, "vmx.buildType", "stats") == 0) {
		out = cfg_serialize(c, &len);
		struct cfg *c2 = NULL;
		if (!out || cfg_parse("again", out, len, &c2, &e) < 0)
			abort();
		const char *v = cfg_get(c2, "vmx.buildtype");
		if (!v || strcmp(v, "stats") != 0)
			abort();
		cfg_free(c2);
		free(out);
	}
	cfg_free(c);
	return 0;
}
