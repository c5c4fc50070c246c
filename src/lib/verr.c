/*
 * verr.c - error messages that travel with a negative errno (see verr.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "verr.h"

int verr_set(struct verr *e, int code, const char *fmt, ...)
{
	if (e) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
		va_end(ap);
	}
	return code;
}

int verr_prefix(struct verr *e, int code, const char *fmt, ...)
{
	if (e) {
		char old[sizeof(e->msg)];
		char pre[sizeof(e->msg)];
		va_list ap;
		memcpy(old, e->msg, sizeof(old));
		va_start(ap, fmt);
		vsnprintf(pre, sizeof(pre), fmt, ap);
		va_end(ap);
		snprintf(e->msg, sizeof(e->msg), "%s: %s", pre, old);
	}
	return code;
}
