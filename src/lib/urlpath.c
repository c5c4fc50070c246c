/*
 * urlpath.c - route patterns against request paths (urlpath.h).
 */
#include <string.h>
#include "urlpath.h"

int urlpath_match(const char *pattern, const char *path, char *store, size_t storelen,
		  const char **args, int maxargs)
{
	int n = 0;
	size_t used = 0;

	while (*pattern || *path) {
		if (*pattern != '/' || *path != '/')
			return 0;
		pattern++;
		path++;
		const char *pe = strchrnul(pattern, '/'), *se = strchrnul(path, '/');
		size_t pl = (size_t)(pe - pattern), sl = (size_t)(se - path);
		if (pl > 1 && pattern[0] == '{') {
			if (sl == 0 || n >= maxargs || used + sl + 1 > storelen)
				return 0;
			memcpy(store + used, path, sl);
			store[used + sl] = 0;
			args[n++] = store + used;
			used += sl + 1;
		} else if (pl != sl || memcmp(pattern, path, pl) != 0) {
			return 0;
		}
		pattern = pe;
		path = se;
	}
	return 1;
}
