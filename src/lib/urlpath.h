/*
 * urlpath.h - matching a request path against a route pattern such as
 * "/vms/{id}/power", for the HTTP servers of hostd and vmx3-center.
 */
#ifndef VMX_LIB_URLPATH_H
#define VMX_LIB_URLPATH_H

#include <stddef.h>

/*
 * 1 when path matches pattern segment by segment, copying each {segment}
 * into store (NUL-separated) and pointing args at them (at most maxargs);
 * 0 otherwise.  A captured segment is never empty.
 */
int urlpath_match(const char *pattern, const char *path, char *store, size_t storelen,
		  const char **args, int maxargs);

#endif
