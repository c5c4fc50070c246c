/*
 * hostd.h - interfaces between hostd's modules (the daemon that registers
 * VMs, launches one vmx per running VM, supervises it and serves the HTTP
 * API).  See docs/HOSTD.md for the daemon and docs/API.md for the API.
 *
 * Locking: one mutex (hostd_lock) guards the VM table, the tasks and the
 * database handle.  Anything that blocks (control-socket calls, waiting for a
 * vmx to exit or to come up) runs without it, from a task's worker thread
 * that owns the VM through vm->busy_task.
 */
#ifndef VMX_HOSTD_HOSTD_H
#define VMX_HOSTD_HOSTD_H

#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include "../lib/buildtype.h"
#include "../lib/verr.h"

#define HOSTD_API_PREFIX "/api/v1"
#define HOSTD_DEFAULT_PORT 8307
#define HOSTD_MAX_DS 16
#define HOSTD_MAX_IMAGES 8
#define HOSTD_DEFAULT_PER_IP 16
#define HOSTD_DEFAULT_CONN_TIMEOUT 10
#define HOSTD_DEFAULT_EVENTS_AGE (90ull * 24 * 3600)
#define HOSTD_DEFAULT_EVENTS_COUNT 100000
#define HOSTD_DEFAULT_LOGIN_COALESCE 60
/* VM names: shown by every tool, so no control characters and a fixed length. */
#define HOSTD_NAME_MAX 127

struct hostd_ds {
	char name[64];
	char path[PATH_MAX];
};

/* Settings from hostd.conf (same syntax as a .vmx) and the command line. */
struct hostd_cfg {
	char state_dir[PATH_MAX];
	char vmx_dir[PATH_MAX];  /* configured binary directory, "" = beside hostd */
	char self_dir[PATH_MAX]; /* directory of the hostd executable */
	char listen_addr[64];    /* loopback by default */
	char migration_addr[64]; /* where incoming migrations listen; "" = listen_addr */
	unsigned port;           /* 0 = no TCP listener */
	char sock_path[PATH_MAX];
	char tls_cert[PATH_MAX];
	char tls_key[PATH_MAX];
	uint64_t mem_capacity_mb;
	uint64_t shutdown_timeout_s;
	uint64_t launch_timeout_s;
	unsigned nds;
	struct hostd_ds ds[HOSTD_MAX_DS];
	unsigned nimages;                   /* read-only image directories (realpath) */
	char images[HOSTD_MAX_IMAGES][PATH_MAX];
	char vmx_user[64];       /* user each vmx runs as; "root" = no drop */
	uid_t vmx_uid;           /* 0 = vmx runs as hostd's own user */
	gid_t vmx_gid;
	unsigned per_ip_limit;   /* TCP connections per client address */
	unsigned conn_timeout_s; /* idle connections (and slow headers) dropped after */
	bool allow_plain_http;   /* plain HTTP on a non-loopback address */
	uint64_t events_max_age_s;
	uint64_t events_max_count;
	uint64_t login_coalesce_s; /* one loginFailed event per name per interval */
};

/* --- ds.c: datastore paths "[ds] dir/NAME.vmx" ------------------------------ */

/*
 * Resolves a datastore path to an absolute one.  Refuses unknown datastores,
 * absolute or ".." components, names not ending in .vmx and (when the file
 * exists) symlinks leading out of the datastore.  Errors start with "file: ".
 */
int ds_resolve(const struct hostd_cfg *c, const char *file, char *abs, size_t len,
	       struct verr *e);
const struct hostd_ds *ds_find(const struct hostd_cfg *c, const char *name);
/* Splits "[ds] rel" into its parts; -EINVAL when malformed. */
int ds_split(const char *file, char *ds, size_t dslen, const char **rel);
/* Parses "name=path" pairs from the config (keys datastore.NAME). */
int ds_add(struct hostd_cfg *c, const char *name, const char *path, struct verr *e);

/* --- confine.c: files a VM may use ----------------------------------------------- */

/* openat2(rootfd, rel, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS); fd or -errno (-EXDEV: escapes). */
int confine_open(int rootfd, const char *rel, int flags);
/*
 * Checks that rel stays beneath rootfd: the existing part resolves beneath it
 * and a missing tail is plain names (no dangling symlink).  *exists and *st
 * tell whether it exists.  -EXDEV when it would lead outside.
 */
int confine_check(int rootfd, const char *rel, bool *exists, struct stat *st);
/* Creates reldir's missing components beneath rootfd; returns an O_PATH fd of it. */
int confine_mkdirs(int rootfd, const char *reldir, mode_t mode);
int confine_root_open(const char *root);
/* True for .vmx keys that name a file (docs/CONFIG.md). */
bool confine_is_file_key(const char *key);
/*
 * The paths a file key's value names, one per call from *cur (start with the
 * value): one for most keys, each program's file for guest.userSymbols
 * ("PROG:FILE; ...", buf holds it).  NULL at the end; **cur is then 0
 * unless an entry was too long for buf.
 */
const char *confine_next_path(const char *key, const char **cur, char *buf, size_t len);
/*
 * Checks one file value of a .vmx in VM directory vm_reldir of the datastore at
 * ds_root: inside a datastore, or (read_only) an image directory.  Errors
 * start with the key.
 */
int confine_vmx_file(const struct hostd_cfg *c, const char *ds_root, const char *vm_reldir,
		     const char *key, const char *value, bool read_only, bool device_ok,
		     struct verr *e);
struct cfg;
/*
 * Opens the absolute .vmx value `value` beneath the datastore or image
 * directory it names (confine_open); -EPERM when it is under neither.
 */
int confine_open_abs(const struct hostd_cfg *c, const char *value, int flags);
/* Checks every file key of a .vmx (see confine_vmx_file); -EPERM names the key. */
int confine_vmx(const struct hostd_cfg *c, const struct cfg *vmx, const char *ds_name,
		const char *vm_reldir, struct verr *e);

/* Reads a regular file without following a symlink (for files in VM directories). */
int read_nofollow(const char *path, size_t max, char **buf, size_t *len);

/* --- privdrop.c: vmx as an unprivileged user -------------------------------------- */

/* Resolves hostd.vmxUser (creating the default "vmx3" if missing) when hostd is root. */
int privdrop_init(struct hostd_cfg *c, struct verr *e);
/*
 * What hostd opens for an unprivileged vmx, which may be unable to search the
 * directories above its VM directory or its images (a tree under /root):
 * vmx gets them as --vm-dir-fd and --pass-fd descriptors.
 */
#define PRIVDROP_MAX_FILES 16
struct privdrop_fds {
	int dir_fd;                         /* the VM directory; -1: vmx reaches all by name */
	unsigned n;
	int fd[PRIVDROP_MAX_FILES];         /* O_PATH, one per absolute file value */
	char *path[PRIVDROP_MAX_FILES];     /* that value */
	/*
	 * More descriptors for the child, set by the caller after
	 * privdrop_prepare_vm and not closed by privdrop_fds_close: each is
	 * named on the command line by extra_opt, a format with one %d for
	 * its number in the child ("--migration-status-fd=%d").
	 */
#define PRIVDROP_MAX_EXTRA 2
	unsigned nextra;
	int extra_fd[PRIVDROP_MAX_EXTRA];
	const char *extra_opt[PRIVDROP_MAX_EXTRA];
	/* One more NAME=VALUE for the child's environment (a secret: never on the command line). */
	const char *extra_env;
};
/*
 * Hands the VM directory and the datastore files its .vmx names to the vmx
 * user and opens them for it in *f (empty when vmx runs with hostd's rights).
 */
int privdrop_prepare_vm(const struct hostd_cfg *c, const char *file, struct privdrop_fds *f,
			struct verr *e);
void privdrop_fds_close(struct privdrop_fds *f);
/*
 * Removes what a killed vmx leaves in its VM directory (temporary checkpoint
 * and .vmx files, the control socket); call only when no vmx runs for it.
 * Returns how many were removed.
 */
int vmdir_clean_stale(const struct hostd_cfg *c, const char *file);
/*
 * fork + exec of bin (opened by hostd, so its directory need not be
 * searchable) as the vmx user, in a new session, stdout/stderr on out_fd:
 * `bin args... [--vm-dir-fd N --pass-fd N:PATH...] vmx_file`, f from
 * privdrop_prepare_vm (NULL: none).  Returns the pid, or -1 with *err set.
 */
pid_t privdrop_spawn(const struct hostd_cfg *c, const char *bin, const char *const *args,
		     const char *vmx_file, const struct privdrop_fds *f, int out_fd, int *err);

/* --- vmcfg.c: names and .vmx values from clients ---------------------------------- */

/* A VM name: 1..HOSTD_NAME_MAX bytes, no control characters; errors start with field. */
int vmcfg_check_name(const char *field, const char *name, struct verr *e);
/*
 * Checks a value the API sets for key at create (decimal numbers in range,
 * booleans, build type, names, no control characters) and writes its .vmx
 * text to out.  Errors start with the key.
 */
int vmcfg_value(const char *key, json_t *val, char *out, size_t len, struct verr *e);
/* Checks every file key of the .vmx of "[ds] dir/NAME.vmx" (power on, register). */
int confine_vm_file(const struct hostd_cfg *c, const char *file, struct verr *e);

/* --- admit.c: admission control --------------------------------------------- */

/* Memory a vmx of this build type needs beyond guest RAM, in MiB. */
uint64_t admit_overhead_mb(enum buildtype t);
/*
 * Would reserving need_mb on top of reserved_mb exceed capacity_mb?  Fills msg
 * with the numbers either way; returns 0 or -ENOSPC.
 */
int admit_check(uint64_t capacity_mb, uint64_t reserved_mb, uint64_t need_mb, char *msg,
		size_t len);
/* Total RAM of this machine in MiB (MemTotal), 0 if unknown. */
uint64_t admit_host_mem_mb(void);

/* --- fastswitch.c: runtime build-type change by hand-over (docs/HANDOVER.md) ---- */

struct hvm;

enum switch_method { SWITCH_FAST = 0, SWITCH_SUSPEND };

/* "fast" or "suspend"; -EINVAL for anything else. */
int switch_method_parse(const char *s, enum switch_method *out);
const char *switch_method_name(enum switch_method m);
/*
 * Moves the running VM to a new vmx of build type `to` (binary bin) by a
 * hand-over; records its phases in the task and its figures in res.  0: the
 * new process runs the guest (vm->pid is it).  -EAGAIN: the fast path could
 * not be used and the old process still runs the guest; e says why in words
 * (the caller falls back to suspend/resume).  Other errors: e says what
 * became of the VM.
 */
int fastswitch_run(struct hvm *vm, int task, enum buildtype to, const char *bin, json_t *res,
		   struct verr *e);

/* --- hmig.c: live migration between hosts (docs/MIGRATION.md) -------------------- */

/*
 * Destination: registers the .vmx and starts its vmx waiting for the VM on a
 * free port with a one-time token.  Returns the task id and *result
 * {id, address, token, task, buildType, requestedBuildType}; errors with
 * *http_status (409 registered already / admission, 400 bad file).
 */
int hmig_incoming(const char *file, const char *name, const char *user, json_t **result,
		  int *http_status, struct verr *e);
/* Source: sends the running VM to the vmx at peer; returns the task id. */
int hmig_outgoing(int id, const char *peer, const char *token, const char *user,
		  int *http_status, struct verr *e);
/*
 * A migration in doubt.  Source: run_here false ends the paused vmx, true
 * lets it run on.  Destination, its receiving vmx orphaned (the sender
 * vanished after handing over everything): true lets it run the guest,
 * false ends it.
 */
int hmig_resolve(int id, bool run_here, int *http_status, struct verr *e);

/*
 * After a restart, for a VM whose migrateIn task was interrupted (lock held):
 * watches the receiving vmx the task recorded, adopting it when it runs the
 * guest and unregistering the VM if it ends first.  Returns its pid, 0 when
 * it is gone already.
 */
int hmig_watch(struct hvm *vm, json_t *task);

/* --- db.c: SQLite inventory ---------------------------------------------------- */

int db_open(const char *path, struct verr *e);
void db_close(void);
/* Runs one statement with text parameters (NULL = SQL NULL); 0 or -EIO. */
int db_exec(const char *sql, int nparams, const char *const *params);
/* Runs a query and returns its rows as an array of objects (column -> value). */
json_t *db_query(const char *sql, int nparams, const char *const *params);
/* Last inserted rowid. */
int64_t db_last_id(void);
/* Records an event; user names longer than 64 bytes are cut. */
void db_event(const char *user, int vm_id, const char *type, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/*
 * Records an event once per (type, key) per coalescing interval; repeats in
 * the interval only raise the count in the row's message.
 */
void db_event_coalesced(const char *user, const char *type, const char *key, const char *msg);
/* Limits: events older than max_age_s or beyond the newest max_count go (0 = no limit). */
void db_set_event_limits(uint64_t max_age_s, uint64_t max_count, uint64_t coalesce_s);
/* Deletes events beyond the limits (also run every few hundred events). */
void db_prune_events(void);

/* --- auth.c: users, passwords, sessions ---------------------------------------- */

/* User names longer than this are refused before anything else, at login too. */
#define AUTH_NAME_MAX 63
#define AUTH_PASSWORD_MAX 1024

enum role { ROLE_NONE = 0, ROLE_READONLY = 1, ROLE_ADMIN = 2 };
const char *role_name(enum role r);
int role_parse(const char *s, enum role *out);
int auth_init(void);
int auth_user_add(const char *name, const char *password, enum role r, struct verr *e);
int auth_user_del(const char *name, struct verr *e);
/*
 * Checks a password; failures are slowed down (see docs/API.md).  On success
 * returns 0 and a new session token (64 hex chars); -EACCES for a bad pair,
 * -EAGAIN when the user is locked out for *retry_s seconds, -EINVAL for a name
 * that cannot be a user (checked first), -EBUSY when too many logins are
 * being verified already.
 */
int auth_login(const char *name, const char *password, char token[65], enum role *r,
	       unsigned *retry_s);
/* Looks up a session token; ROLE_NONE when unknown or expired. */
enum role auth_session(const char *token, char *user, size_t len);
void auth_logout(const char *token);

/* --- vmctl.c: client of a vmx control socket ----------------------------------- */

/* Sends {"v":1,"cmd":cmd,...args} to VMDIR/vmx.ctl and returns the reply object. */
int vmctl_call(const char *vmdir, const char *cmd, json_t *args, int timeout_ms, json_t **reply,
	       struct verr *e);

/* --- hvm.c: the VM registry --------------------------------------------------- */

enum hpower { HP_OFF = 0, HP_ON, HP_SUSPENDED };
const char *hpower_name(enum hpower p);

struct hvm {
	int id;
	char name[128];
	char file[PATH_MAX];   /* "[ds] dir/NAME.vmx" */
	char path[PATH_MAX];   /* absolute path of the .vmx */
	char dir[PATH_MAX];
	enum hpower power;
	pid_t pid;             /* running vmx, 0 when none */
	int pidfd;             /* for processes adopted after a restart */
	bool child;            /* pid is our child (waitpid) */
	uint64_t pid_start;    /* start time of pid (/proc/PID/stat) against pid reuse */
	enum buildtype running_bt;
	int busy_task;         /* task that owns the VM, 0 = none */
	bool stopping;         /* an operation expects the vmx to exit */
	bool exited;           /* set by the supervisor when pid went away */
	bool hard_killed;      /* hostd's hard stop sent SIGKILL: its exit is no crash */
	int exit_status;       /* wait status of the last exit (-1 unknown) */
	int64_t revert_at;     /* unix time of a pending revertAfter, 0 = none */
	bool recover_resume;   /* resume once suspended: a runtime switch was interrupted */
	/* Fast switch in progress (fastswitch.c): the second vmx and what it reserves. */
	pid_t ho_pid;          /* the receiving vmx, our child; 0 = none */
	enum buildtype ho_bt;
	uint64_t ho_extra_mb;  /* its overhead, reserved while both processes live */
	/* Live migration (hmig.c). */
	bool mig_out;          /* a migration to another host is under way */
	bool migrated;         /* the vmx's exit means the VM runs on another host now */
	pid_t mig_in_pid;      /* the receiving vmx of an incoming migration, before it runs */
	int mig_in_fd;         /* its status channel (hostd's end, the task owns it); -1 */
	char last_exit[512];
	struct hvm *next;
};

struct hvm *hvm_find(int id);
/* Registers an existing .vmx; returns the new VM id. */
int hvm_register(const char *file, const char *name, const char *user, struct verr *e);
/* Creates the VM directory and .vmx from key/values, then registers it. */
int hvm_create(const char *file, json_t *config, const char *user, struct verr *e);
int hvm_unregister(int id, const char *user, struct verr *e);
json_t *hvm_json(struct hvm *vm);
/* Loads the inventory, adopts running vmx processes, recovers interrupted tasks. */
int hvm_restore(struct verr *e);
/* Reserved memory of running VMs (MiB), optionally excluding one. */
uint64_t hvm_reserved_mb(int except_id);

/* --- hostd.c: the daemon's state and lock, shared by every module ------------- */

struct hostd {
	pthread_mutex_t lock;
	pthread_cond_t cond;   /* broadcast when a vmx exits or a task ends */
	struct hostd_cfg cfg;
	struct hvm *vms;
	volatile int stop;
};
extern struct hostd g_hostd;

void hostd_lock(void);
void hostd_unlock(void);
/* CLOCK_MONOTONIC in milliseconds. */
uint64_t now_ms(void);

/* --- vmsup.c: the supervisor of the vmx processes ----------------------------- */

/* Starts the supervisor thread (reaps exits, follows hand-overs, runs revertAfter). */
int vmsup_start(void);
void vmsup_stop(void);

/* --- vmop.c: operations on a VM, each a task in its own thread ---------------- */

/* Full path of the vmx binary for a build type; -ENOENT with a message. */
int vmop_binary(enum buildtype t, char *out, size_t len, struct verr *e);
/*
 * Spawns bin [args...] VMX-PATH for the VM in its own session, stdio to
 * vmx-stdio.log, with the descriptors privdrop_prepare_vm opened (f).
 */
int vmop_spawn(struct hvm *vm, const char *bin, const char *const *args,
	       const struct privdrop_fds *f, pid_t *pid, struct verr *e);

/* Operations (asynchronous: each returns the id of a new task, or <0). */
enum vm_op { OP_POWERON, OP_POWEROFF, OP_HARDOFF, OP_RESET, OP_SUSPEND, OP_RESUME, OP_BUILDTYPE };
int vmop_parse(const char *s, enum vm_op *out);
/* http_status gets the status code fitting the error (409 busy, 400, 403...). */
int vmop_start(int id, enum vm_op op, enum buildtype bt, uint64_t revert_after_s,
	       enum switch_method method, const char *user, int *http_status, struct verr *e);

/* --- task.c: long operations --------------------------------------------------- */

/* Creates a task row (state "running"); returns its id. */
int task_new(int vm_id, const char *op, const char *user, json_t *params);
void task_progress(int id, int percent, const char *what);
void task_phase(int id, const char *name, uint64_t ms);
/* A phase measured more finely than a millisecond (fast switch), ms with 3 decimals. */
void task_phase_ms(int id, const char *name, double ms);
/* Ends a task: result (stolen) on success, or an error message. */
void task_finish(int id, json_t *result, const char *error);
json_t *task_get(int id);
json_t *task_list(int limit);
/* Marks tasks still "running" from an earlier hostd as interrupted; returns them. */
json_t *task_interrupted(void);

/* --- stats_api.c: stats of running VMs (docs/API.md) ------------------------------ */

/*
 * One VM's live stats: JSON in *out (counters and kstats) or, with prom, the
 * vmx's Prometheus text in *text (caller frees).  0, or -errno with the HTTP
 * status in *http_status (404 no VM, 409 not running / no stats build, 503 the
 * control socket failed) and a message starting with "vm: ".
 */
int stats_api_vm(int id, bool prom, json_t **out, char **text, int *http_status, struct verr *e);
/* Host-wide Prometheus text: every running stats VM with vm="NAME", and hostd's own. */
int stats_api_metrics(char **text, struct verr *e);

/* --- vmdata.c: files of a VM's directory as JSON (docs/API.md) ------------------ */

/*
 * Each returns 0 with *out set, or -errno with the HTTP status in
 * *http_status (404 no VM or no such file yet, 500 unreadable) and a message
 * starting with "vm: ".
 */
/* The last `lines` lines of vmx.log (an empty list before the first power-on). */
int vmdata_log(int id, long lines, json_t **out, int *http_status, struct verr *e);
/*
 * The newest callstack profile as labels and stacks (vcpu -1: all).  No
 * profile (or, for the series, no ustats file) yet gives an empty one with
 * "pending" saying why.
 */
int vmdata_profile(int id, int vcpu, bool monitor_tail, json_t **out, int *http_status,
		   struct verr *e);
/* The newest ustats file as rates per interval over its last last_ns (0: all). */
int vmdata_series(int id, uint64_t last_ns, json_t **out, int *http_status, struct verr *e);

/* --- ui.c: the web interface's files, compiled in (docs/UI.md) -------------------- */

struct ui_asset {
	const char *path;  /* below /ui, e.g. "/app.js" */
	const char *ctype;
	const unsigned char *data;
	unsigned len;
};
/* Generated from src/ui/ by scripts/ui-embed.py. */
extern const struct ui_asset ui_assets[];
extern const unsigned ui_nassets;
/* The asset at url ("/ui/..."; "/ui/" is index.html), or NULL. */
const struct ui_asset *ui_find(const char *url);
/* The strong validator of an asset's bytes, "\"hex\"" (buf at least 20 bytes). */
const char *ui_etag(const unsigned char *data, size_t len, char *buf, size_t buflen);
/* The response headers every page of the interface carries (CSP and friends). */
extern const char *const ui_headers[][2];
extern const unsigned ui_nheaders;

/* --- api.c: the HTTP API -------------------------------------------------------- */

int api_start(struct verr *e);
void api_stop(void);

#endif
