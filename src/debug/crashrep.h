/*
 * crashrep.h - the crash report of the beta build.
 *
 * When a monitor check fails (vmx_panic, via crash_set_hook) or the monitor
 * takes a fatal signal, the report vmx-crash-<YYYYmmdd-HHMMSS>-<pid>.txt is
 * written into the VM directory: the message, a symbolized backtrace of every
 * thread, the last lines of the log and the guest's vCPU state; then the
 * process exits with VMX_EXIT_PANIC.
 *
 * Linked into beta, opt and obj only; elsewhere these are empty stubs (a
 * release binary still exits with VMX_EXIT_PANIC on a failed VMX_VERIFY, but
 * writes no report).
 */
#ifndef VMX_DEBUG_CRASHREP_H
#define VMX_DEBUG_CRASHREP_H

#include <stdio.h>
#include "../lib/build.h"

struct hart_state;

/* Writes the guest's state into the report (the vmx program registers one). */
typedef void (*crashrep_guest_fn)(FILE *f, void *ctx);

#if VMX_DEBUG
/*
 * Registers the report writer as the panic hook and for fatal signals, and
 * prepares what a report needs so little has to be done at crash time.
 * dir is where reports go (the VM directory; "." when NULL).
 */
int crashrep_install(const char *dir);
void crashrep_set_guest_dump(crashrep_guest_fn fn, void *ctx);
/* Writes a report now (the panic hook); returns the path written, or NULL. */
const char *crashrep_write(const char *msg);
/* Formats one hart's architectural state (for guest-dump callbacks). */
void crashrep_format_hart(FILE *f, const struct hart_state *s);
/* A guest-dump callback for a board: ctx is the struct vm; every hart's state. */
void crashrep_dump_vm(FILE *f, void *ctx);
#else
static inline int crashrep_install(const char *dir)
{
	(void)dir;
	return 0;
}
static inline void crashrep_set_guest_dump(crashrep_guest_fn fn, void *ctx)
{
	(void)fn; (void)ctx;
}
static inline void crashrep_format_hart(FILE *f, const struct hart_state *s)
{
	(void)f; (void)s;
}
static inline void crashrep_dump_vm(FILE *f, void *ctx)
{
	(void)f; (void)ctx;
}
#endif

#endif
