/*
 * bodybuf.c - bounded request bodies (bodybuf.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "bodybuf.h"

int bodybuf_append(struct bodybuf *b, const char *data, size_t n, size_t max)
{
	char *nb;

	if (b->too_big || b->len + n > max) {
		b->too_big = true;
		return 0;
	}
	nb = realloc(b->buf, b->len + n + 1);
	if (!nb)
		return -ENOMEM;
	b->buf = nb;
	memcpy(b->buf + b->len, data, n);
	b->len += n;
	b->buf[b->len] = 0;
	return 0;
}

void bodybuf_free(struct bodybuf *b)
{
	free(b->buf);
	b->buf = NULL;
	b->len = 0;
}
