/*
 * panic.c - what happens when a monitor check fails (build.h: VMX_VERIFY,
 * VMX_ASSERT).  The message goes to the log and stderr; a registered crash
 * hook (the vmx program installs one that writes the crash report) runs once;
 * the process exits with VMX_EXIT_PANIC.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "crash.h"
#include "log.h"

static void (*crash_hook)(const char *msg);

void crash_set_hook(void (*hook)(const char *msg)) { crash_hook = hook; }

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
	if (entered++ == 0) {
		LOG_ERR("PANIC %s", msg);
		if (crash_hook)
			crash_hook(msg);
		log_close();
	}
	fprintf(stderr, "vmx: PANIC %s\n", msg);
	_exit(VMX_EXIT_PANIC);
}
