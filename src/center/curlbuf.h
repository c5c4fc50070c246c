/*
 * curlbuf.h - a reply body collected by libcurl's write callback, for the
 * center's two HTTP clients (etcd.c, chost.c).
 */
#ifndef VMX_CENTER_CURLBUF_H
#define VMX_CENTER_CURLBUF_H

#include <stddef.h>

struct curlbuf {
	char *p;    /* NUL-terminated; free() it */
	size_t len;
	size_t max; /* 0: no limit; over it the transfer fails */
};

/* CURLOPT_WRITEFUNCTION with CURLOPT_WRITEDATA = a struct curlbuf. */
size_t curlbuf_write(char *ptr, size_t size, size_t nm, void *arg);

#endif
