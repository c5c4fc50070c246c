/*
 * ui.c - the web interface's files (src/ui/, docs/UI.md), compiled into hostd
 * so that it needs no file at run time and nothing from another host: lookup
 * by URL, validators for conditional requests, and the headers that confine
 * every page (a Content-Security-Policy with no inline script or style, no
 * framing, no referrer).
 */
#include <stdio.h>
#include <string.h>
#include "hostd.h"

const char *const ui_headers[][2] = {
	{ "Content-Security-Policy",
	  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
	  "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'" },
	{ "X-Content-Type-Options", "nosniff" },
	{ "X-Frame-Options", "DENY" },
	{ "Referrer-Policy", "no-referrer" },
	{ "Cross-Origin-Opener-Policy", "same-origin" },
};
const unsigned ui_nheaders = sizeof(ui_headers) / sizeof(ui_headers[0]);

const struct ui_asset *ui_find(const char *url)
{
	const char *p;

	if (strncmp(url, "/ui/", 4) != 0)
		return NULL;
	p = url + 3;
	if (!strcmp(p, "/"))
		p = "/index.html";
	for (unsigned i = 0; i < ui_nassets; i++)
		if (!strcmp(ui_assets[i].path, p))
			return &ui_assets[i];
	return NULL;
}

/* FNV-1a over the bytes: a validator, not a security measure. */
const char *ui_etag(const unsigned char *data, size_t len, char *buf, size_t buflen)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++) {
		h ^= data[i];
		h *= 0x100000001b3ull;
	}
	snprintf(buf, buflen, "\"%016llx\"", (unsigned long long)h);
	return buf;
}
