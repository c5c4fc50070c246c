/*
 * netbe.h - the host side of a virtual NIC: where its Ethernet frames go.
 *
 * "user": a passt process (Debian package passt) on one end of a Unix stream
 * socket pair, speaking QEMU's stream protocol (each frame preceded by its
 * length, 32-bit big-endian); the vmx keeps the other end.  "tap": an
 * existing tap interface, one frame per read or write.  Either way the NIC
 * only needs one fd, which is what a fast switch hands to the next vmx.
 */
#ifndef VMX_DEVICES_NETBE_H
#define VMX_DEVICES_NETBE_H

#include <sys/types.h>
#include "../board/vm.h"
#include "../lib/verr.h"

/*
 * Starts passt for NIC n (its port forwards) on a fresh socket pair and
 * returns the vmx's end (close-on-exec, non-blocking) and passt's pid.
 * passt runs with --one-off: it exits when every holder of our end has
 * closed it, so it lives exactly as long as the VM, whichever vmx runs it.
 */
int netbe_passt_start(const struct vm_nic_config *n, pid_t *pid, struct verr *e);
/* Opens the existing tap interface name (IFF_TAP | IFF_NO_PI), non-blocking. */
int netbe_tap_open(const char *name, struct verr *e);

#endif
