/*
 * log.c - the vmx log: rotation, the fixed line 1, levelled messages (log.h).
 *
 * Rotation happens before the new process writes anything: vmx.log becomes
 * vmx-0.log, vmx-0.log becomes vmx-1.log, ... and the oldest beyond keep_old
 * is removed.  The last lines are also kept in a small ring in memory so a
 * crash report can include them without reading the file back.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include "log.h"
#include "mxuser.h"

int log_level_cur = VMX_DEBUG ? LOG_VERBOSE : LOG_INFO;

#define LOG_RING_LINES 64
#define LOG_LINE_MAX 1024

static struct mxuser_lock log_lock = MXUSER_LOCK_INITIALIZER("log", MXUSER_RANK_LOG);
static FILE *log_fp;
static bool log_echo;
static _Thread_local char log_thread[16] = "main";
static char log_ring[LOG_RING_LINES][LOG_LINE_MAX];
static unsigned log_ring_next;

static const char *const level_names[] = { "E", "W", "I", "V", "D" };

static int path_of(char *buf, size_t len, const char *dir, const char *base, int idx)
{
	int n = idx < 0 ? snprintf(buf, len, "%s/%s.log", dir, base)
			: snprintf(buf, len, "%s/%s-%d.log", dir, base, idx);
	return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : 0;
}

int log_rotate(const char *dir, const char *base, unsigned keep_old, struct verr *e)
{
	char from[4096], to[4096];

	if (path_of(to, sizeof(to), dir, base, -1) < 0)
		return verr_set(e, -ENAMETOOLONG, "log path too long in %s", dir);
	if (keep_old == 0) {
		if (unlink(to) < 0 && errno != ENOENT)
			return verr_set(e, -errno, "cannot remove %s: %s", to, strerror(errno));
		return 0;
	}
	/* Drop the oldest, then shift each one up: N-2 -> N-1, ..., 0 -> 1, log -> 0. */
	path_of(to, sizeof(to), dir, base, (int)keep_old - 1);
	if (unlink(to) < 0 && errno != ENOENT)
		return verr_set(e, -errno, "cannot remove %s: %s", to, strerror(errno));
	for (int i = (int)keep_old - 2; i >= -1; i--) {
		path_of(from, sizeof(from), dir, base, i);
		path_of(to, sizeof(to), dir, base, i + 1);
		if (rename(from, to) < 0 && errno != ENOENT)
			return verr_set(e, -errno, "cannot rename %s to %s: %s", from, to,
					strerror(errno));
	}
	return 0;
}

int log_header_line(char *buf, size_t len, const char *build_type)
{
	struct utsname u;
	if (uname(&u) < 0)
		strcpy(u.release, "unknown");
	return snprintf(buf, len,
			"Log for vmx3 pid=%d version=%s build=%s buildType=%s hostKernel=%s",
			(int)getpid(), vmx_version, vmx_revision, build_type, u.release);
}

int log_open(const char *dir, const char *base, unsigned keep_old, const char *build_type,
	     bool echo_stderr, struct verr *e)
{
	char path[4096], hdr[512];
	int rc, fd;
	FILE *fp;

	rc = log_rotate(dir, base, keep_old, e);
	if (rc < 0)
		return rc;
	if (path_of(path, sizeof(path), dir, base, -1) < 0)
		return verr_set(e, -ENAMETOOLONG, "log path too long in %s", dir);
	/* O_APPEND: hostd appends its own notes to this file while vmx runs; a
	 * plain offset would write over them. */
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0)
		return verr_set(e, -errno, "cannot create %s: %s", path, strerror(errno));
	fp = fdopen(fd, "w");
	if (!fp) {
		rc = verr_set(e, -errno, "fdopen %s: %s", path, strerror(errno));
		close(fd);
		return rc;
	}
	setvbuf(fp, NULL, _IOLBF, 0);
	log_header_line(hdr, sizeof(hdr), build_type);
	fprintf(fp, "%s\n", hdr);
	mxuser_lock(&log_lock);
	if (log_fp)
		fclose(log_fp);
	log_fp = fp;
	log_echo = echo_stderr;
	mxuser_unlock(&log_lock);
	return 0;
}

void log_close(void)
{
	mxuser_lock(&log_lock);
	if (log_fp) {
		fflush(log_fp);
		fsync(fileno(log_fp));
		fclose(log_fp);
		log_fp = NULL;
	}
	mxuser_unlock(&log_lock);
}

void log_set_thread_name(const char *name)
{
	snprintf(log_thread, sizeof(log_thread), "%s", name);
	prctl(PR_SET_NAME, log_thread, 0, 0, 0);
}

void log_vmsg(enum log_level lvl, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	struct timespec ts;
	struct tm tm;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		     tm.tm_sec, ts.tv_nsec / 1000000, log_thread,
		     level_names[lvl <= LOG_DEBUG ? lvl : LOG_DEBUG]);
	if (n < 0)
		return;
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	/* One message is one line: fold embedded newlines so line-based tools stay right. */
	for (char *p = line; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';

	mxuser_lock(&log_lock);
	memcpy(log_ring[log_ring_next++ % LOG_RING_LINES], line, sizeof(line));
	if (log_fp)
		fprintf(log_fp, "%s\n", line);
	if (!log_fp || (log_echo && lvl <= LOG_WARN))
		fprintf(stderr, "%s: %s\n", program_invocation_short_name, line + n);
	mxuser_unlock(&log_lock);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(lvl, fmt, ap);
	va_end(ap);
}

size_t log_tail(char *buf, size_t len, unsigned n)
{
	size_t off = 0;
	if (len == 0)
		return 0;
	buf[0] = 0;
	mxuser_lock(&log_lock);
	unsigned total = log_ring_next < LOG_RING_LINES ? log_ring_next : LOG_RING_LINES;
	if (n > total)
		n = total;
	for (unsigned i = log_ring_next - n; i != log_ring_next; i++) {
		int w = snprintf(buf + off, len - off, "%s\n", log_ring[i % LOG_RING_LINES]);
		if (w < 0 || (size_t)w >= len - off)
			break;
		off += (size_t)w;
	}
	mxuser_unlock(&log_lock);
	return off;
}

void log_flush(void)
{
	mxuser_lock(&log_lock);
	if (log_fp)
		fflush(log_fp);
	mxuser_unlock(&log_lock);
}
