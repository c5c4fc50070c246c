/*
 * curlbuf.c - libcurl's write callback into a growing buffer (curlbuf.h).
 */
#include <stdlib.h>
#include <string.h>
#include "curlbuf.h"

size_t curlbuf_write(char *ptr, size_t size, size_t nm, void *arg)
{
	struct curlbuf *b = arg;
	size_t add = size * nm;
	char *np;

	if (b->max && b->len + add > b->max)
		return 0;
	np = realloc(b->p, b->len + add + 1);
	if (!np)
		return 0;
	b->p = np;
	memcpy(b->p + b->len, ptr, add);
	b->len += add;
	b->p[b->len] = 0;
	return add;
}
