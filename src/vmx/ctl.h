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

#include "../lib/verr.h"

#define CTL_PROTOCOL_VERSION 1
#define CTL_SOCKET_NAME "vmx.ctl"

struct ctl;
struct vmx;

int ctl_start(struct ctl **out, struct vmx *x, struct verr *e);
void ctl_stop(struct ctl *c);

#endif
