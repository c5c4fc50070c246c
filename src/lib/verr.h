/*
 * verr.h - error messages that travel with a negative errno.
 *
 * The project's convention: actions return 0 or a negative errno; predicates
 * return bool.  When the caller needs to show a person what went wrong (a file,
 * a line, a key), the callee also fills a struct verr.  A NULL verr is allowed
 * everywhere and means "the caller only wants the code".
 */
#ifndef VMX_LIB_VERR_H
#define VMX_LIB_VERR_H

#include <stddef.h>
#include "build.h"

struct verr {
	char msg[512];
};

/* Formats into e (if non-NULL) and returns code, so `return verr_set(e, -EINVAL, ...)` works. */
VMX_PRINTF(3, 4) int verr_set(struct verr *e, int code, const char *fmt, ...);
/* Prefixes an existing message: "prefix: old message". */
VMX_PRINTF(3, 4) int verr_prefix(struct verr *e, int code, const char *fmt, ...);

#endif
