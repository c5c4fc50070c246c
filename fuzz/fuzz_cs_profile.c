/*
 * fuzz_cs_profile.c - vmx-callstack's profile parser, and the views and
 * exports built from whatever it accepts, against arbitrary bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "cstools/csp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct csp_profile *p;
	struct verr e;
	FILE *f = fmemopen((void *)(uintptr_t)data, size, "r");
	if (!f)
		return 0;
	if (csp_parse(f, "fuzz", &p, &e) == 0) {
		struct csp_filter flt = { .vcpu = -1, .kstat = -1, .to_s = -1, .priv = -1 };
		struct csp_view v;
		struct csp_tree t;
		FILE *out = fopen("/dev/null", "w");
		if (csp_view_build(p, &flt, &v) == 0) {
			for (int bu = 0; bu < 2; bu++)
				if (csp_tree_build(&v, bu, v.nlabels ? 0 : -1, &t) == 0)
					csp_tree_free(&t);
			if (out) {
				csp_export_folded(&v, out);
				csp_export_html(p, &v, out);
			}
		}
		csp_view_free(&v);
		if (out)
			fclose(out);
		csp_free(p);
	}
	fclose(f);
	return 0;
}
