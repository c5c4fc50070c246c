/*
 * ksymdump.c - host-side driver of tests/integration/callstack_kallsyms.sh:
 * runs the monitor's kallsyms decoder (src/stats/cs_kallsyms.c) on a kernel
 * Image, so its output can be compared with the guest's own /proc/kallsyms.
 *
 *   ksymdump IMAGE              "ADDR TYPE NAME" for every function symbol
 *   ksymdump --all IMAGE        the same for every symbol of the tables
 *   ksymdump --lookup IMAGE F   for each "ADDR ..." line of F, what the
 *                               profiler's symbol table says about ADDR:
 *                               "ADDR START END NAME", or "ADDR - - -"
 * A summary (symbol count, layout, where the tables are) goes to stderr.
 * Exit status 1 with the decoder's message when it finds no tables.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lib/verr.h"
#include "stats/cs_kallsyms.h"

static int lookup(const char *image, const char *file)
{
	struct cs_symtab *t;
	struct verr e;
	char line[1024];
	FILE *f;

	if (cs_symtab_from_kernel_image(&t, image, CS_KERNEL_LINK_BASE, &e) < 0) {
		fprintf(stderr, "ksymdump: %s\n", e.msg);
		return 1;
	}
	fprintf(stderr, "ksymdump: %u function symbols in the table\n", cs_symtab_count(t));
	f = fopen(file, "r");
	if (!f) {
		perror(file);
		cs_symtab_free(t);
		return 1;
	}
	while (fgets(line, sizeof(line), f)) {
		unsigned long long a;
		uint64_t start, end;
		const char *nm;
		if (sscanf(line, "%llx", &a) != 1)
			continue;
		nm = cs_symtab_lookup_range(t, a, &start, &end);
		if (nm)
			printf("%016llx %016llx %016llx %s\n", a, (unsigned long long)start,
			       (unsigned long long)end, nm);
		else
			printf("%016llx - - -\n", a);
	}
	fclose(f);
	cs_symtab_free(t);
	return 0;
}

static int dump(const char *image, int all)
{
	struct cs_kallsyms k;
	struct verr e;
	size_t len = 0, cap = 0, ntext = 0;
	unsigned char *img = NULL;
	FILE *f = fopen(image, "rb");

	if (!f) {
		perror(image);
		return 1;
	}
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 1 << 24;
			unsigned char *n = realloc(img, cap);
			if (!n) {
				fclose(f);
				free(img);
				return 1;
			}
			img = n;
		}
		size_t r = fread(img + len, 1, cap - len, f);
		if (!r)
			break;
		len += r;
	}
	fclose(f);
	if (cs_kallsyms_decode(img, len, CS_KERNEL_LINK_BASE, &k, &e) < 0) {
		fprintf(stderr, "ksymdump: %s: %s\n", image, e.msg);
		free(img);
		return 1;
	}
	for (size_t i = 0; i < k.n; i++) {
		bool text = cs_kallsyms_is_text(&k, i);
		ntext += text;
		if (all || text)
			printf("%016llx %c %s\n", (unsigned long long)k.v[i].addr, k.v[i].type,
			       k.names + k.v[i].name);
	}
	fprintf(stderr,
		"ksymdump: %zu symbols, %zu functions; layout %s; token table 0x%zx, index 0x%zx, "
		"markers 0x%zx, names 0x%zx, addresses 0x%zx\n",
		k.n, ntext, k.layout, k.off_token_table, k.off_token_index, k.off_markers,
		k.off_names, k.off_addrs);
	cs_kallsyms_free(&k);
	free(img);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "--lookup"))
		return lookup(argv[2], argv[3]);
	if (argc == 3 && !strcmp(argv[1], "--all"))
		return dump(argv[2], 1);
	if (argc == 2 && argv[1][0] != '-')
		return dump(argv[1], 0);
	fprintf(stderr, "usage: ksymdump [--all] IMAGE | ksymdump --lookup IMAGE ADDRFILE\n");
	return 2;
}
