/*
 * fuzz_api_ds.c - libFuzzer target for the datastore paths that API clients
 * send ("[ds] dir/NAME.vmx"): ds_resolve must never crash, and whatever it
 * accepts must stay inside the datastore, with no "." or ".." component and
 * a .vmx name.  hostd's ds.c is compiled into the target directly.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "../src/hostd/ds.c"

static struct hostd_cfg g_cfg;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char file[4096], abs[PATH_MAX];
	struct verr e = { "" };

	if (!g_cfg.nds) {
		mkdir("/tmp/fuzz_api_ds", 0755);
		mkdir("/tmp/fuzz_api_ds/vm", 0755);
		if (ds_add(&g_cfg, "ds1", "/tmp/fuzz_api_ds", NULL) < 0)
			abort();
	}
	if (size >= sizeof(file))
		return 0;
	memcpy(file, data, size);
	file[size] = 0;
	if (ds_resolve(&g_cfg, file, abs, sizeof(abs), &e) == 0) {
		size_t dl = strlen(g_cfg.ds[0].path), n = strlen(abs);
		if (strncmp(abs, g_cfg.ds[0].path, dl) != 0 || abs[dl] != '/')
			abort();
		if (strstr(abs + dl, "/../") || strstr(abs + dl, "/./") || strstr(abs + dl, "//"))
			abort();
		if (n < 5 || strcmp(abs + n - 4, ".vmx") != 0)
			abort();
	} else if (strncmp(e.msg, "file: ", 6) != 0) {
		abort();
	}
	return 0;
}
