/*
 * log.h - the vmx log (vmx.log in the VM directory) and levelled logging.
 *
 * Line 1 of every log has one fixed, parseable form that post-processing tools
 * read:  Log for vmx3 pid=<pid> version=<v> build=<rev> buildType=<t> hostKernel=<r>
 * Every later line is "<timestamp> <thread> <level> <message>".
 *
 * LOG() skips formatting entirely when the level is filtered out (as Redis's
 * serverLog does), so a debug message on a warm path costs one compare.
 */
#ifndef VMX_LIB_LOG_H
#define VMX_LIB_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include "build.h"
#include "verr.h"

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_VERBOSE = 3, LOG_DEBUG = 4 };

extern int log_level_cur;

/* Rotates DIR/BASE.log -> BASE-0.log -> BASE-1.log ... keeping keep_old old logs. */
int log_rotate(const char *dir, const char *base, unsigned keep_old, struct verr *e);

/*
 * Opens DIR/BASE.log after rotating, writes line 1 with build_type, and makes it
 * the process log.  Until log_open is called (and after log_close) messages go to
 * stderr only.  Messages at LOG_WARN and above are also copied to stderr when
 * `echo_stderr` is set.
 */
int log_open(const char *dir, const char *base, unsigned keep_old, const char *build_type,
	     bool echo_stderr, struct verr *e);
void log_close(void);
/* Formats line 1 into buf; exposed so tests and tools share one definition. */
int log_header_line(char *buf, size_t len, const char *build_type);

/* Names the calling thread in log lines (max 15 chars, also set for the OS). */
void log_set_thread_name(const char *name);

VMX_PRINTF(2, 3) void log_msg(enum log_level lvl, const char *fmt, ...);
void log_vmsg(enum log_level lvl, const char *fmt, va_list ap);
/* Copies the last n lines written to the log into buf (for crash reports). */
size_t log_tail(char *buf, size_t len, unsigned n);
/* Flushes the log to disk (called before exit and in crash paths). */
void log_flush(void);

#define LOG(lvl, ...) \
	do { if ((int)(lvl) <= log_level_cur) log_msg((lvl), __VA_ARGS__); } while (0)
#define LOG_ERR(...)  LOG(LOG_ERROR, __VA_ARGS__)
#define LOG_WRN(...)  LOG(LOG_WARN, __VA_ARGS__)
#define LOG_INF(...)  LOG(LOG_INFO, __VA_ARGS__)
/* Debug logging is compiled out of non-debug builds entirely. */
#define LOG_DBG(...) \
	do { if (VMX_DEBUG) LOG(LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
