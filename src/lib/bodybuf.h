/*
 * bodybuf.h - a request body arriving in pieces (libmicrohttpd hands it over
 * a chunk at a time), bounded: the HTTP servers of hostd and vmx3-center.
 */
#ifndef VMX_LIB_BODYBUF_H
#define VMX_LIB_BODYBUF_H

#include <stdbool.h>
#include <stddef.h>

struct bodybuf {
	char *buf; /* NUL-terminated */
	size_t len;
	bool too_big; /* a piece would have passed the limit: the rest is dropped */
};

/* Appends n bytes unless the body would pass max; 0, or -ENOMEM. */
int bodybuf_append(struct bodybuf *b, const char *data, size_t n, size_t max);
void bodybuf_free(struct bodybuf *b);

#endif
