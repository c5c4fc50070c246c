/*
 * vmx3-kallsyms.c - dumps /proc/kallsyms for the host's symbolizer.
 *
 * Debian's riscv64 kernel package ships no usable System.map (the real
 * symbols are in a separate -dbg package), so the guest exports its own
 * symbol table.  Addresses are hidden unless kptr_restrict is 0, so this sets
 * it first.  With a FILE argument the table is written there (e.g. onto the
 * mounted disk); without, it goes to stdout framed by
 *   VMX3-KALLSYMS-BEGIN / VMX3-KALLSYMS-END count=N
 * so the host can cut it out of the serial log.  Only text symbols (t/T) that
 * name functions are kept unless --all is given, which keeps the dump short.
 *
 * Usage: vmx3-kallsyms [--all] [FILE]
 */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	const char *outpath = NULL;
	int all = 0;
	unsigned long n = 0;
	char line[512];
	FILE *in, *out = stdout, *kr;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--all") == 0)
			all = 1;
		else
			outpath = argv[i];
	}
	kr = fopen("/proc/sys/kernel/kptr_restrict", "w");
	if (kr) {
		fputs("0\n", kr);
		fclose(kr);
	}
	in = fopen("/proc/kallsyms", "r");
	if (!in) {
		perror("vmx3-kallsyms: /proc/kallsyms");
		return 1;
	}
	if (outpath) {
		out = fopen(outpath, "w");
		if (!out) {
			perror(outpath);
			fclose(in);
			return 1;
		}
	} else {
		puts("VMX3-KALLSYMS-BEGIN");
	}
	while (fgets(line, sizeof(line), in)) {
		char addr[32], type, name[256];

		if (sscanf(line, "%31s %c %255s", addr, &type, name) != 3)
			continue;
		/* Module local labels (.L0) and mapping symbols ($x) name no function. */
		if (!all && ((type != 't' && type != 'T') || name[0] == '.' || name[0] == '$'))
			continue;
		fputs(line, out);
		n++;
	}
	fclose(in);
	if (outpath) {
		if (fclose(out)) {
			perror(outpath);
			return 1;
		}
		printf("VMX3 kallsyms file=%s count=%lu\n", outpath, n);
	} else {
		printf("VMX3-KALLSYMS-END count=%lu\n", n);
	}
	return 0;
}
