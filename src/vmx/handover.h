/*
 * handover.h - moving a running VM to another vmx process without writing it
 * out (the fast build-type switch; later live migration reuses the same
 * steps).  The running vmx stops its vCPUs at a scheduling-round boundary,
 * sends the machine state (the checkpoint's sections, not the pages) and
 * its host fds (guest RAM memfd, disk images, console file) with SCM_RIGHTS
 * to a vmx started with --incoming-handover, and exactly one of the two runs
 * the guest at any time.  Until the new process says "running" the old one
 * can take the guest back.  Protocol and failure cases: docs/HANDOVER.md.
 */
#ifndef VMX_VMX_HANDOVER_H
#define VMX_VMX_HANDOVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "../lib/verr.h"

#define HANDOVER_PROTOCOL_VERSION 1

enum handover_state {
	HO_NONE = 0,
	HO_REQUESTED,   /* outgoing: peer connected and compatible, vCPUs asked to stop */
	HO_SENDING,     /* outgoing: vCPUs stopped, state and fds on their way */
	HO_WAITING,     /* outgoing: waiting for the receiver's "ready" / "running" */
	HO_DONE,        /* outgoing: the receiver runs the guest; this process exits 5 */
	HO_FAILED,      /* outgoing: taken back, the guest runs on here; see error */
	HO_RUNNING,     /* incoming: this process took the guest over and runs it */
};

/* CLOCK_MONOTONIC (system-wide, so both processes' clocks agree), ns; 0 = not reached. */
struct handover_times {
	uint64_t request;   /* old: the hand-over was asked for */
	uint64_t stop;      /* old: the vCPUs stopped (downtime starts) */
	uint64_t sent;      /* old: state and fds sent */
	uint64_t received;  /* new: state and fds received */
	uint64_t ready;     /* new: state restored, "ready" sent */
	uint64_t go;        /* new: "go" received */
	uint64_t run;       /* new: about to run its first guest instruction (downtime ends) */
};

struct handover {
	_Atomic int state;      /* enum handover_state */
	bool incoming;          /* this process took the VM over from peer_pid */
	int fd;                 /* outgoing: connected to the receiver; -1 */
	pid_t peer_pid;
	char peer_build[16];
	struct handover_times t;
	char error[512];        /* why the last hand-over failed; under vmx.suspend_lock */
	char test_pause[16];    /* opt/obj: monitor.debugTestHandoverPause */
};

struct vmx;
struct json_t;

void handover_init(struct handover *h);
/* Reads the devel-only test knob (opt/obj) from the .vmx. */
int handover_configure(struct vmx *x, struct verr *e);
/*
 * Old side, any thread: connects to the receiver listening at path, reads
 * its hello and checks that it reads every section this vmx writes (a
 * mismatch is an error naming the section; the guest never stopped).
 */
int handover_connect(struct vmx *x, const char *path, struct verr *e);
/*
 * Old side, main thread, vCPUs stopped: sends state and fds and waits for
 * the receiver.  0: the receiver runs the guest, this process must exit
 * without touching guest RAM or devices again.  Negative: taken back, the
 * guest may run on here (the reason is in e and in the status).
 */
int handover_send(struct vmx *x, struct verr *e);
/*
 * New side: listens at path, takes one connection from the running vmx,
 * builds x->vm from its state and fds (x->vc must be filled from the .vmx)
 * and returns once it may run the guest; on failure nothing ran.
 */
int handover_receive(struct vmx *x, const char *path, struct verr *e);
/*
 * "" in why when a receiver whose hello lists sections (name -> highest
 * version it reads) reads every section this vmx writes, else why not,
 * naming the section (used by live migration too).
 */
void handover_check_versions(struct json_t *sections, const char *peer_build, char *why,
			     size_t len);
/* Closes what a finished or failed hand-over still holds. */
void handover_close(struct handover *h);

/* Control-socket commands "handover" and "handoverStatus" (docs/CONTROL.md). */
struct json_t *handover_ctl_start(struct vmx *x, struct json_t *req, const char **err);
struct json_t *handover_ctl_status(struct vmx *x, struct json_t *req, const char **err);

#endif
