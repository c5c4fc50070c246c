/*
 * vmx.h - the vmx program's own context, shared by main.c (open and close),
 * runloop.c (running the guest and serving what stops it), handover.c
 * (moving the running VM to another vmx process) and the control socket
 * (ctl.c).
 */
#ifndef VMX_VMX_VMX_H
#define VMX_VMX_VMX_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include "../board/vm.h"
#include "../ckpt/ckpt.h"
#include "../lib/cfg.h"
#include "../lib/mxuser.h"
#include "handover.h"
#include "migrate.h"

struct ctl;

/* The command line. */
struct vmx_opts {
	const char *elf;          /* --elf FILE */
	bool echo;                /* copy warnings and errors to stderr (not --quiet) */
	bool resume;              /* --resume */
	bool want_hash;           /* --hash */
	bool suspend_at_end;      /* --suspend */
	uint64_t until;           /* --until-insns N, 0 = none */
	uint64_t hash_every;      /* --hash-every N, 0 = none */
	const char *incoming;     /* --incoming-handover SOCK: take over a running VM */
	const char *handover_to;  /* --handover SOCK: at --until-insns, hand over to SOCK */
	const char *incoming_migration; /* --incoming-migration ADDR: take a VM from another host */
	int migration_status_fd;  /* --migration-status-fd N: "go" is written there; -1 */
	int vm_dir_fd;            /* --vm-dir-fd N: the .vmx's directory, open as fd N; -1 */
};

struct vmx {
	char vmx_path[4096];     /* the .vmx file as vmx opens it, "" with a bare --elf run */
	char vmx_name[4096];     /* the .vmx as the command line names it (logs, "hello") */
	char vmdir[4096];        /* its directory; /proc/self/fd/N with --vm-dir-fd */
	struct cfg *cfg;
	struct vm *vm;
	struct vm_config vc;
	struct ctl *ctl;
	uint64_t start_ns;       /* CLOCK_MONOTONIC at process start */
	_Atomic int power_state; /* enum vmx_power */

	/* Suspend: asked for on the control socket, done on the main thread. */
	_Atomic int suspend_state;       /* enum vmx_suspend */
	struct ckpt_progress suspend_prog;
	struct mxuser_lock suspend_lock; /* guards suspend_error and the hash result */
	char suspend_error[512];
	char vmss_path[4096];            /* NAME.vmss beside the .vmx */

	/* State hash asked for on the control socket, computed on the main thread. */
	_Atomic int hash_req;
	struct mxuser_cond hash_cond;
	bool hash_ready;
	int hash_rc;
	char hash_hex[65];
	uint64_t hash_instret;

	/* Resume: the checkpoint being loaded (memory may still be arriving). */
	struct ckpt_reader *resume_reader;
	pthread_t resume_cleanup;
	bool resume_cleanup_started;

	/* Hand-over to or from another vmx process (handover.c). */
	struct handover ho;
	/* Live migration to or from another host (migrate.c). */
	struct migration mig;
};

/* Why the guest stopped running on this thread (runloop.c). */
enum vmx_stop {
	VMX_STOP_BUDGET,        /* --until-insns reached */
	VMX_STOP_HASH_POINT,    /* a --hash-every boundary */
	VMX_STOP_HASH_REQUEST,  /* "hash" on the control socket */
	VMX_STOP_SUSPEND,       /* "suspend" on the control socket, or --suspend at the budget */
	VMX_STOP_HANDOVER,      /* "handover" on the control socket, or --handover at the budget */
	VMX_STOP_MIGRATE,       /* the pre-copy is done: the last round needs the vCPUs stopped */
	VMX_STOP_DONE,          /* powered off, reset, error, signal: the run is over */
};

/* runloop.c: runs the guest until it ends; returns the exit status. */
int vmx_run(struct vmx *x, const struct vmx_opts *o);
/* runloop.c: atomically sets (value) or removes (NULL) checkpoint.vmState in the .vmx. */
int vmx_set_vmstate_key(struct vmx *x, const char *value, struct verr *e);
/* main.c: CLOCK_MONOTONIC or another clock, in ns. */
uint64_t vmx_clock_ns(clockid_t clk);
/*
 * main.c, test knobs (opt/obj): spec "PHASE[:SECONDS]" (a .vmx value) stops
 * the caller at PHASE for SECONDS (30) after logging it, so a test can kill
 * a process exactly there.  "" or another phase: returns at once.
 */
void vmx_test_pause(const char *spec, const char *phase);

enum vmx_suspend {
	VMX_SUSPEND_NONE = 0, VMX_SUSPEND_REQUESTED, VMX_SUSPEND_RUNNING, VMX_SUSPEND_DONE,
	VMX_SUSPEND_FAILED, VMX_SUSPEND_CANCELLED,
};

#define VMX_VMSTATE_KEY "checkpoint.vmState"

const char *vmx_suspend_name(int state);
/* SHA-256 of the machine state (what a checkpoint would hold); VM stopped. */
int vmx_state_hash(struct vmx *x, char hex[65], struct verr *e);

enum vmx_power { VMX_POWER_STARTING = 0, VMX_POWER_ON, VMX_POWER_STOPPING, VMX_POWER_OFF };

const char *vmx_power_name(int state);
uint64_t vmx_now_ns(void);
/*
 * Why a suspend, a hand-over or a migration cannot start now, or NULL.
 * Each stops the running guest and gives it away, so one at a time, and
 * only while the VM runs.
 */
static inline const char *vmx_move_refusal(struct vmx *x)
{
	if (atomic_load(&x->power_state) != VMX_POWER_ON)
		return "the VM is not running";
	int s = atomic_load(&x->suspend_state);
	if (s == VMX_SUSPEND_REQUESTED || s == VMX_SUSPEND_RUNNING)
		return "a suspend is in progress";
	s = atomic_load(&x->ho.state);
	if (s != HO_NONE && s != HO_FAILED && s != HO_RUNNING)
		return "a hand-over is in progress";
	/* In doubt counts: the guest is paused until migrateResolve says where it runs. */
	s = atomic_load(&x->mig.state);
	if (s != MIG_NONE && s != MIG_FAILED && s != MIG_RUNNING)
		return "a migration is in progress";
	return NULL;
}

#endif
