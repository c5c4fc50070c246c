/*
 * ctl.h - the control socket of a running vmx (protocol in docs/CONTROL.md).
 *
 * A Unix stream socket `vmx.ctl` in the VM directory.  Each request is one
 * line of JSON {"v":1,"cmd":"<name>", ...args}; each reply one line of JSON
 * {"v":1,"ok":true, ...} or {"v":1,"ok":false,"error":"..."}.  Commands
 * register in a table (ctl_commands[] in ctl.c).
 */
#ifndef VMX_VMX_CTL_H
#define VMX_VMX_CTL_H

#include <jansson.h>
#include <stddef.h>
#include "../lib/verr.h"

#define CTL_PROTOCOL_VERSION 1
#define CTL_SOCKET_NAME "vmx.ctl"
/* A client that completes no request for this long is closed (docs/CONTROL.md). */
#define CTL_IDLE_TIMEOUT_MS 5000

struct ctl;
struct vmx;

int ctl_start(struct ctl **out, struct vmx *x, struct verr *e);
void ctl_stop(struct ctl *c);

/*
 * The request layer without the socket.  A reader assembles one client's
 * bytes into lines; each complete line is dispatched and its reply (one JSON
 * object, without the newline) handed to out.  ctl_reader_feed returns 1 when
 * at least one request completed, 0 when none did, -1 when the client must be
 * closed (a line longer than 64 KiB; an error reply was handed to out).
 */
struct ctl_reader;
typedef void (*ctl_out_fn)(void *arg, const char *line, size_t len);
struct ctl_reader *ctl_reader_new(void);
void ctl_reader_free(struct ctl_reader *r);
int ctl_reader_feed(struct ctl_reader *r, struct vmx *x, const char *data, size_t n,
		    ctl_out_fn out, void *arg);
/* The reply to one request line (never NULL unless out of memory); caller decrefs. */
json_t *ctl_dispatch(struct vmx *x, const char *line, size_t len);

#endif
