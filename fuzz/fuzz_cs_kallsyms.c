/*
 * fuzz_cs_kallsyms.c - the guest kernel kallsyms decoder (src/stats/
 * cs_kallsyms.c) against arbitrary bytes as a kernel Image, and the symbol
 * table built from whatever it accepts.  Seeds: small synthetic images with
 * valid tables (fuzz/seeds/fuzz_cs_kallsyms), so mutations reach every stage.
 */
#include <stdint.h>
#include <stdlib.h>
#include "stats/cs_kallsyms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cs_kallsyms k;
	struct cs_symtab *t;
	struct verr e;

	if (cs_kallsyms_decode(data, size, CS_KERNEL_LINK_BASE, &k, &e) < 0)
		return 0;
	/* What was accepted must be sorted and inside the image. */
	for (size_t i = 1; i < k.n; i++)
		if (k.v[i].addr < k.v[i - 1].addr || k.v[i].addr < CS_KERNEL_LINK_BASE)
			abort();
	if (cs_kallsyms_symtab(&t, &k, &e) == 0) {
		for (size_t i = 0; i < k.n; i++)
			(void)cs_symtab_lookup(t, k.v[i].addr, NULL);
		cs_symtab_free(t);
	}
	cs_kallsyms_free(&k);
	return 0;
}
