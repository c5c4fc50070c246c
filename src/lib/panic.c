/*
 * panic.c - what happens when a monitor check fails (build.h: VMX_VERIFY,
 * VMX_ASSERT).  The message goes to the log and stderr; a registered crash
 * hook (the vmx program installs one that writes the crash report) runs once,
 * then the registered cleanups; the process exits with VMX_EXIT_PANIC.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "crash.h"
#include "log.h"

static void (*crash_hook)(const char *msg);
static void (*cleanups[8])(void);
static _Atomic unsigned ncleanups;

void crash_set_hook(void (*hook)(const char *msg)) { crash_hook = hook; }

void crash_add_cleanup(void (*fn)(void))
{
	unsigned i = ncleanups++;
	if (i < 8)
		cleanups[i] = fn;
}

static _Atomic int crashing;

int crash_in_progress(void) { return atomic_load(&crashing); }

void crash_run_cleanups(void)
{
	static _Atomic int ran;
	if (ran++)
		return;
	for (unsigned i = 0; i < ncleanups && i < 8; i++)
		if (cleanups[i])
			cleanups[i]();
}

void vmx_panic(const char *file, int line, const char *fmt, ...)
{
	static _Atomic int entered;
	char msg[768];
	int n;
	va_list ap;

	n = snprintf(msg, sizeof(msg), "%s:%d: ", file, line);
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	atomic_store(&crashing, 1);
	if (entered++ == 0) {
		LOG_ERR("PANIC %s", msg);
		if (crash_hook)
			crash_hook(msg);
		crash_run_cleanups();
		log_close();
	}
	fprintf(stderr, "vmx: PANIC %s\n", msg);
	_exit(VMX_EXIT_PANIC);
}
