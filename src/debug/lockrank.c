/*
 * lockrank.c - MXUser lock-rank checking of the beta build (mxuser.h).
 *
 * Each thread keeps the list of MXUser locks it holds and where it took each.
 * A thread may only block on a lock of higher rank than every lock it holds:
 * if all threads follow that one global order, no cycle of waiters (deadlock)
 * can form.  A violation is reported the moment it happens, even when this
 * run would not have deadlocked, naming both locks and both call sites, with a
 * backtrace; then vmx_panic() writes the crash report and exits.
 */
#include <execinfo.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "../lib/mxuser.h"

#define MXUSER_MAX_HELD 32

struct held {
	const struct mxuser_hdr *h;
	const char *file;
	int line;
};

static _Thread_local struct held held[MXUSER_MAX_HELD];
static _Thread_local unsigned nheld;    /* may exceed MXUSER_MAX_HELD; extra ones untracked */

VMX_NORETURN static void violation(const char *file, int line, const char *fmt, ...)
	VMX_PRINTF(3, 4);

static void violation(const char *file, int line, const char *fmt, ...)
{
	char msg[600];
	void *bt[64];
	int n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "vmx: MXUser lock check failed: %s\nvmx: locks held by this thread:\n",
		msg);
	for (unsigned i = 0; i < nheld && i < MXUSER_MAX_HELD; i++)
		fprintf(stderr, "vmx:   \"%s\" rank %u taken at %s:%d\n", held[i].h->name,
			held[i].h->rank, held[i].file, held[i].line);
	fprintf(stderr, "vmx: backtrace:\n");
	n = backtrace(bt, (int)VMX_ARRAY_SIZE(bt));
	backtrace_symbols_fd(bt, n, STDERR_FILENO);
	vmx_panic(file, line, "MXUser lock check failed: %s", msg);
}

void mxuser_rank_check(const struct mxuser_hdr *h, const char *file, int line)
{
	unsigned n = nheld < MXUSER_MAX_HELD ? nheld : MXUSER_MAX_HELD;

	for (unsigned i = 0; i < n; i++) {
		if (held[i].h == h)
			violation(file, line,
				  "recursive acquisition of \"%s\" (rank %u) at %s:%d; "
				  "it was already taken at %s:%d",
				  h->name, h->rank, file, line, held[i].file, held[i].line);
	}
	/* Report the highest-ranked held lock that the new one does not exceed. */
	for (unsigned i = n; i-- > 0;) {
		if (h->rank <= held[i].h->rank)
			violation(file, line,
				  "lock rank violation: acquiring \"%s\" (rank %u) at %s:%d "
				  "while holding \"%s\" (rank %u) taken at %s:%d",
				  h->name, h->rank, file, line, held[i].h->name, held[i].h->rank,
				  held[i].file, held[i].line);
	}
}

void mxuser_rank_acquired(const struct mxuser_hdr *h, const char *file, int line)
{
	if (nheld < MXUSER_MAX_HELD)
		held[nheld] = (struct held){ h, file, line };
	nheld++;
}

void mxuser_rank_release(const struct mxuser_hdr *h, const char *file, int line)
{
	unsigned n = nheld < MXUSER_MAX_HELD ? nheld : MXUSER_MAX_HELD;

	for (unsigned i = n; i-- > 0;) {
		if (held[i].h != h)
			continue;
		memmove(&held[i], &held[i + 1], (n - i - 1) * sizeof(held[0]));
		nheld--;
		return;
	}
	if (nheld > MXUSER_MAX_HELD) {
		/* Too deep to track: trust the release. */
		nheld--;
		return;
	}
	violation(file, line, "releasing \"%s\" (rank %u) at %s:%d, which this thread does not hold",
		  h->name, h->rank, file, line);
}

unsigned mxuser_rank_held_count(void) { return nheld; }
