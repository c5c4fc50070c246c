/*
 * migrate.h - live migration: moving a running VM to a vmx on another host
 * over TCP (docs/MIGRATION.md).  The sender copies guest RAM while the
 * guest runs, again and again for the pages the dirty log says were
 * written, until what is left is small; then it stops the vCPUs (the
 * hand-over's safe point), sends the last pages and the same versioned
 * sections as the fast switch, lets go of the disk images, and the
 * receiver (a vmx started with --incoming-migration) opens them and runs.
 *
 * Who runs the guest: the receiver runs only after "go"; the sender never
 * runs again after sending "go", unless it is told the receiver is not
 * running (control command "migrateResolve"): a connection lost between
 * "go" and "running" leaves it paused, "inDoubt", for hostd to decide.
 */
#ifndef VMX_VMX_MIGRATE_H
#define VMX_VMX_MIGRATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "../lib/verr.h"

#define MIGRATION_PROTOCOL_VERSION 1

enum migration_state {
	MIG_NONE = 0,
	MIG_PRECOPY,     /* outgoing: copying RAM while the guest runs */
	MIG_STOPPING,    /* outgoing: vCPUs asked to stop for the last round */
	MIG_FINISHING,   /* outgoing: vCPUs stopped, last pages, state, disks */
	MIG_WAITING,     /* outgoing: waiting for the receiver's "ready" / "running" */
	MIG_DONE,        /* outgoing: the receiver runs the guest; this process exits 5 */
	MIG_FAILED,      /* outgoing: the guest runs on here; see error */
	MIG_INDOUBT,     /* outgoing: "go" sent, no "running": paused until migrateResolve */
	MIG_RUNNING,     /* incoming: this process runs the guest */
};

/* CLOCK_MONOTONIC ns of this process; 0 = not reached. */
struct migration_times {
	uint64_t request;   /* out: asked for */
	uint64_t stop;      /* out: vCPUs stopped (downtime starts) / in: from the sender's realtime */
	uint64_t sent;      /* out: last pages and state sent */
	uint64_t ready;     /* in: state restored */
	uint64_t run;       /* in: first guest instruction (downtime ends) */
};

struct migration {
	_Atomic int state;              /* enum migration_state */
	bool incoming;
	int fd;                         /* the TCP connection; -1 */
	pthread_t thread;               /* outgoing: the pre-copy thread */
	bool thread_started;
	char peer[300];                 /* "host:port" */
	char peer_build[16];
	uint64_t *bits;                 /* outgoing: pages still to send, one bit each */
	uint64_t npages;
	_Atomic uint64_t rounds, pages_sent, zero_pages, bytes_sent, dirty_last, remaining;
	struct migration_times t;
	uint64_t downtime_ns;           /* in: the sender's stop to our first instruction */
	_Atomic int resolve;            /* in doubt: 1 = run here after all, 2 = exit */
	int status_fd;                  /* in: --migration-status-fd, "go\n" written there; -1 */
	char error[512];                /* why it failed; under vmx.suspend_lock */
	char test_pause[16];            /* opt/obj: monitor.debugTestMigrationPause */
	uint64_t max_rounds;
	uint64_t downtime_goal_ns;
};

struct vmx;
struct json_t;

void migration_init(struct migration *m);
/* Reads the .vmx knobs (migration.maxRounds, migration.downtimeGoalMs, the test pause). */
int migration_configure(struct vmx *x, struct verr *e);
/*
 * Receiver: listens at addr ("HOST:PORT", or "fd:N" for a listening
 * socket inherited from hostd), takes one sender that knows the token
 * (environment VMX_MIGRATION_TOKEN), builds x->vm and fills its RAM and
 * state, and returns once it may run the guest; on failure nothing ran.
 */
int migration_receive(struct vmx *x, const char *addr, struct verr *e);
/*
 * Sender, main thread, vCPUs stopped (stop reason VMX_STOP_MIGRATE): the
 * last round.  0: the receiver runs the guest, this process must exit.
 * Negative: the guest may run on here (reason in e and the status).
 */
int migration_finish(struct vmx *x, struct verr *e);
void migration_close(struct migration *m);

/* Control-socket commands "migrate", "migrateStatus", "migrateResolve" (docs/CONTROL.md). */
struct json_t *migration_ctl_start(struct vmx *x, struct json_t *req, const char **err);
struct json_t *migration_ctl_status(struct vmx *x, struct json_t *req, const char **err);
struct json_t *migration_ctl_resolve(struct vmx *x, struct json_t *req, const char **err);

#endif
