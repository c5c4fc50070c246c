/*
 * crashrep.h - the crash report, written by every build type.
 *
 * When a monitor check fails (vmx_panic, via crash_set_hook) or the monitor
 * takes a fatal signal, the report vmx-crash-<YYYYmmdd-HHMMSS>-<pid>.txt is
 * written into the VM directory: the reason, version and build type, a
 * backtrace, the guest's vCPU state (every hart's registers) and the last
 * lines of the log; then the registered crash cleanups run (the control
 * socket is removed) and the process exits with VMX_EXIT_PANIC.
 *
 * The report is src/vmx/crashreport.c, in every build.  The beta build (and
 * opt, obj) adds a symbolized backtrace of every thread (src/debug/crashrep.c,
 * libelf); release and stats give the failing thread's frames as
 * module+offset, for addr2line.
 */
#ifndef VMX_DEBUG_CRASHREP_H
#define VMX_DEBUG_CRASHREP_H

#include <stdio.h>
#include "../lib/build.h"

struct hart_state;

/* Writes the guest's state into the report (the vmx program registers one). */
typedef void (*crashrep_guest_fn)(FILE *f, void *ctx);

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

#if VMX_DEBUG
/* Beta: loads the symbol table and the per-thread backtrace signal. */
void crashrep_bt_prepare(void);
/* Beta: a symbolized backtrace of every thread, the failing one first. */
void crashrep_bt_all(FILE *f);
#endif

#endif
