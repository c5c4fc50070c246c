/*
 * hvm.c - the registry of VMs (struct hvm, prefix hvm_): registering, creating and unregistering them,
 * the inventory in the database (loaded at start, saved on every change),
 * adopting the vmx processes an earlier hostd left running, the JSON view the
 * API shows and the memory that running VMs reserve.  What a VM's .vmx says
 * (build type, memory, checkpoint) is read here for the other modules.
 * Noticing a vmx's exit is vmsup.c's job; operations on a VM are vmop.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "../lib/cfg.h"
#include "../lib/fileutil.h"
#include "../lib/log.h"
#include "hostd.h"
#include "hvm_int.h"

#define CHECKPOINT_KEY "checkpoint.vmState"

const char *hpower_name(enum hpower p)
{
	return p == HP_ON ? "poweredOn" : p == HP_SUSPENDED ? "suspended" : "poweredOff";
}

struct hvm *hvm_find(int id)
{
	for (struct hvm *v = g_hostd.vms; v; v = v->next)
		if (v->id == id)
			return v;
	return NULL;
}

/* Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat). */
uint64_t hvm_pid_start(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long start = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return 0;
	}
	fclose(f);
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
			 "%*d %*d %llu", &start) != 1)
		return 0;
	return start;
}

void hvm_save(struct hvm *vm)
{
	char id[24], pid[24], st[24], rev[24], bt[16];

	snprintf(id, sizeof(id), "%d", vm->id);
	snprintf(pid, sizeof(pid), "%d", (int)vm->pid);
	snprintf(st, sizeof(st), "%llu", (unsigned long long)vm->pid_start);
	snprintf(rev, sizeof(rev), "%lld", (long long)vm->revert_at);
	snprintf(bt, sizeof(bt), "%s", buildtype_name(vm->running_bt));
	const char *p[] = { hpower_name(vm->power), pid, st, bt, rev, vm->last_exit, id };
	db_exec("UPDATE vms SET power=?, pid=?, pid_start=?, running_bt=?, revert_at=?, last_exit=? "
		"WHERE id=?", 7, p);
}

/* Reads the VM's build type, memory size and checkpoint from its .vmx. */
int hvm_read_cfg(const struct hvm *vm, enum buildtype *bt, uint64_t *mem_mb,
		bool *checkpoint, struct verr *e)
{
	struct cfg *c;
	int rc = cfg_load(vm->path, &c, e);

	if (rc < 0)
		return rc;
	if (bt && (rc = buildtype_from_cfg(c, bt, e)) < 0)
		goto out;
	if (mem_mb && (rc = cfg_get_u64(c, "memSize", 512, 1, 1u << 24, mem_mb, e)) < 0)
		goto out;
	if (checkpoint) {
		const char *cp = cfg_get(c, CHECKPOINT_KEY);
		char p[PATH_MAX * 2];
		struct stat st;
		*checkpoint = false;
		if (cp && *cp) {
			if (cp[0] == '/')
				snprintf(p, sizeof(p), "%s", cp);
			else
				snprintf(p, sizeof(p), "%s/%s", vm->dir, cp);
			*checkpoint = stat(p, &st) == 0 && st.st_size > 0;
		}
	}
out:
	cfg_free(c);
	return rc;
}

int hvm_set_buildtype(struct hvm *vm, enum buildtype bt, struct verr *e)
{
	struct cfg *c;
	int rc = cfg_load(vm->path, &c, e);

	if (rc < 0)
		return rc;
	rc = cfg_set(c, BUILDTYPE_KEY, buildtype_name(bt));
	if (rc == 0)
		rc = cfg_save(c, vm->path, e);
	else
		verr_set(e, rc, "%s: cannot set %s", vm->path, BUILDTYPE_KEY);
	cfg_free(c);
	return rc;
}

uint64_t hvm_reserved_mb(int except_id)
{
	uint64_t sum = 0, mem;

	for (struct hvm *v = g_hostd.vms; v; v = v->next) {
		/* A VM owned by a task (for example suspended in the middle of a
		 * runtime switch) is about to run again: it keeps its reservation. */
		if (v->id == except_id || (v->power != HP_ON && !v->pid && !v->busy_task))
			continue;
		if (hvm_read_cfg(v, NULL, &mem, NULL, NULL) < 0)
			mem = 512;
		/* During a fast switch both vmx processes live: both overheads, RAM once. */
		sum += mem + admit_overhead_mb(v->running_bt) + v->ho_extra_mb;
	}
	return sum;
}

json_t *hvm_json(struct hvm *vm)
{
	enum buildtype bt = BUILDTYPE_DEFAULT;
	uint64_t mem = 0;
	struct verr e = { "" };
	json_t *j;

	int rc = hvm_read_cfg(vm, &bt, &mem, NULL, &e);
	j = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:I}", "id", vm->id, "name", vm->name, "file",
		      vm->file, "path", vm->path, "powerState", hpower_name(vm->power), "buildType",
		      rc < 0 ? "unknown" : buildtype_name(bt), "memSizeMB", (json_int_t)mem);
	if (rc < 0)
		json_object_set_new(j, "configError", json_string(e.msg));
	if (vm->pid) {
		json_object_set_new(j, "pid", json_integer(vm->pid));
		json_object_set_new(j, "runningBuildType", json_string(buildtype_name(vm->running_bt)));
		json_object_set_new(j, "binary", json_string(buildtype_binary(vm->running_bt)));
	}
	if (vm->busy_task)
		json_object_set_new(j, "busyTask", json_integer(vm->busy_task));
	if (vm->revert_at) {
		int64_t left = vm->revert_at - time(NULL);
		json_object_set_new(j, "pendingRevert",
				    json_pack("{s:s, s:I, s:I}", "buildType", "default", "at",
					      (json_int_t)vm->revert_at, "inSeconds",
					      (json_int_t)(left > 0 ? left : 0)));
	}
	if (vm->last_exit[0])
		json_object_set_new(j, "lastExit", json_string(vm->last_exit));
	return j;
}

static struct hvm *hvm_alloc(int id, const char *name, const char *file, const char *path)
{
	struct hvm *vm = calloc(1, sizeof(*vm));
	if (!vm)
		return NULL;
	vm->id = id;
	vm->pidfd = -1;
	vm->mig_in_fd = -1;
	vm->exit_status = -1;
	snprintf(vm->name, sizeof(vm->name), "%s", name);
	snprintf(vm->file, sizeof(vm->file), "%s", file);
	snprintf(vm->path, sizeof(vm->path), "%s", path);
	file_dirname(vm->path, vm->dir, sizeof(vm->dir));
	return vm;
}

static void hvm_append(struct hvm *vm)
{
	struct hvm **pp = &g_hostd.vms;
	while (*pp)
		pp = &(*pp)->next;
	*pp = vm;
}

/* Takes over a running vmx that hostd did not start (or started before a restart). */
static bool hvm_adopt(struct hvm *vm, pid_t pid, uint64_t start)
{
	json_t *reply = NULL;
	int fd;

	if (pid <= 0 || hvm_pid_start(pid) != start || start == 0)
		return false;
	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0)
		return false;
	if (vmctl_call(vm->dir, "hello", NULL, 2000, &reply, NULL) == 0) {
		enum buildtype bt;
		const char *name = json_string_value(json_object_get(reply, "buildType"));
		for (int t = 0; t < BUILDTYPE_COUNT; t++)
			if (name && !strcmp(buildtype_compiled_name((enum buildtype)t), name))
				vm->running_bt = (enum buildtype)t;
		(void)bt;
	}
	json_decref(reply);
	vm->pid = pid;
	vm->pid_start = start;
	vm->pidfd = fd;
	vm->child = false;
	vm->power = HP_ON;
	return true;
}

int hvm_register(const char *file, const char *name, const char *user, struct verr *e)
{
	char abs[PATH_MAX], nm[128];
	struct cfg *c;
	struct hvm *vm;
	bool checkpoint = false;
	int rc, id;

	rc = ds_resolve(&g_hostd.cfg, file, abs, sizeof(abs), e);
	if (rc < 0)
		return rc;
	if (access(abs, R_OK) < 0)
		return verr_set(e, -ENOENT, "file: \"%s\": %s", file, strerror(errno));
	rc = cfg_load(abs, &c, e);
	if (rc < 0)
		return verr_prefix(e, rc, "file");
	if (name && *name) {
		rc = vmcfg_check_name("name", name, e);
		snprintf(nm, sizeof(nm), "%s", name);
	} else if (cfg_get(c, "displayName")) {
		rc = vmcfg_check_name("displayName", cfg_get(c, "displayName"), e);
		snprintf(nm, sizeof(nm), "%s", cfg_get(c, "displayName"));
	} else {
		const char *b = strrchr(abs, '/') + 1;
		if (strlen(b) - 4 > HOSTD_NAME_MAX)
			rc = verr_set(e, -EINVAL, "file: the file name makes a VM name longer than %d "
				      "bytes; set displayName or give a name", HOSTD_NAME_MAX);
		snprintf(nm, sizeof(nm), "%.*s", (int)(strlen(b) - 4), b);
	}
	cfg_free(c);
	/* Every file the .vmx names must be in a datastore or an image directory. */
	if (rc == 0)
		rc = confine_vm_file(&g_hostd.cfg, file, e);
	if (rc < 0)
		return rc;
	hostd_lock();
	for (struct hvm *v = g_hostd.vms; v; v = v->next)
		if (!strcmp(v->path, abs)) {
			hostd_unlock();
			return verr_set(e, -EEXIST, "file: \"%s\" is already registered as VM %d", file,
					v->id);
		}
	const char *p[] = { nm, file, abs };
	if (db_exec("INSERT INTO vms(name,file,path) VALUES(?,?,?)", 3, p) < 0) {
		hostd_unlock();
		return verr_set(e, -EIO, "cannot record the VM");
	}
	id = (int)db_last_id();
	vm = hvm_alloc(id, nm, file, abs);
	if (!vm) {
		hostd_unlock();
		return verr_set(e, -ENOMEM, "out of memory");
	}
	hvm_read_cfg(vm, &vm->running_bt, NULL, &checkpoint, NULL);
	vm->power = checkpoint ? HP_SUSPENDED : HP_OFF;
	hvm_save(vm);
	hvm_append(vm);
	hostd_unlock();
	db_event(user, id, "vmRegistered", "registered %s as \"%s\"", file, nm);
	return id;
}

static bool key_ok(const char *k)
{
	if (!*k)
		return false;
	for (; *k; k++)
		if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') ||
		      (*k >= '0' && *k <= '9') || *k == '.' || *k == '_' || *k == '-'))
			return false;
	return true;
}

int hvm_create(const char *file, json_t *config, const char *user, struct verr *e)
{
	char abs[PATH_MAX], dsname[64], reldir[PATH_MAX], target[64 + NAME_MAX];
	const struct hostd_ds *ds;
	const char *key, *rel, *slash;
	struct cfg *c;
	json_t *val;
	int rc, rootfd, dirfd;

	rc = ds_resolve(&g_hostd.cfg, file, abs, sizeof(abs), e);
	if (rc < 0)
		return rc;
	if (access(abs, F_OK) == 0)
		return verr_set(e, -EEXIST, "file: \"%s\" already exists", file);
	if (config && !json_is_object(config))
		return verr_set(e, -EINVAL, "config: must be an object of key: value");
	c = cfg_new(abs);
	if (!c)
		return verr_set(e, -ENOMEM, "out of memory");
	cfg_set(c, "memSize", "512");
	cfg_set(c, "numvcpus", "1");
	cfg_set(c, BUILDTYPE_KEY, "default");
	json_object_foreach(config, key, val) {
		char s[PATH_MAX];
		if (!key_ok(key)) {
			cfg_free(c);
			return verr_set(e, -EINVAL, "config.%s: keys are letters, digits, '.', '_', '-'; "
					"values are one-line strings or integers", key);
		}
		rc = vmcfg_value(key, val, s, sizeof(s), e);
		if (rc < 0) {
			cfg_free(c);
			return rc;
		}
		cfg_set(c, key, s);
	}
	/* Files the new .vmx names: checked before anything is created. */
	ds_split(file, dsname, sizeof(dsname), &rel);
	ds = ds_find(&g_hostd.cfg, dsname);
	slash = strrchr(rel, '/');
	snprintf(reldir, sizeof(reldir), "%.*s", slash ? (int)(slash - rel) : 0, rel);
	rc = confine_vmx(&g_hostd.cfg, c, dsname, reldir, e);
	if (rc < 0) {
		cfg_free(c);
		return rc;
	}
	/* Directories are made beneath the datastore, never through a symlink out of it. */
	rootfd = confine_root_open(ds->path);
	dirfd = rootfd < 0 ? rootfd : confine_mkdirs(rootfd, reldir, 0755);
	if (rootfd >= 0)
		close(rootfd);
	if (dirfd < 0) {
		cfg_free(c);
		return verr_set(e, dirfd == -EXDEV ? -EINVAL : dirfd, "file: \"%s\": %s", file,
				dirfd == -EXDEV ? "leads outside the datastore" : strerror(-dirfd));
	}
	snprintf(target, sizeof(target), "/proc/self/fd/%d/%s", dirfd, slash ? slash + 1 : rel);
	rc = cfg_save(c, target, e);
	close(dirfd);
	cfg_free(c);
	if (rc < 0)
		return rc;
	db_event(user, 0, "vmCreated", "created %s", file);
	return hvm_register(file, NULL, user, e);
}

int hvm_unregister(int id, const char *user, struct verr *e)
{
	struct hvm **pp, *vm = NULL;
	char ids[24];

	hostd_lock();
	for (pp = &g_hostd.vms; *pp; pp = &(*pp)->next)
		if ((*pp)->id == id) {
			vm = *pp;
			break;
		}
	if (!vm) {
		hostd_unlock();
		return verr_set(e, -ENOENT, "vm: no VM with id %d", id);
	}
	if (vm->busy_task || vm->pid) {
		hostd_unlock();
		return verr_set(e, -EBUSY, "VM %d is %s; power it off first", id,
				vm->busy_task ? "busy" : "running");
	}
	*pp = vm->next;
	snprintf(ids, sizeof(ids), "%d", id);
	const char *p[] = { ids };
	db_exec("DELETE FROM vms WHERE id=?", 1, p);
	hostd_unlock();
	db_event(user, id, "vmUnregistered", "unregistered %s", vm->file);
	free(vm);
	return 0;
}

int hvm_restore(struct verr *e)
{
	json_t *rows = db_query("SELECT * FROM vms ORDER BY id", 0, NULL), *row, *tasks, *t;
	size_t i;

	/*
	 * VMs an interrupted incoming migration registered: their receiving vmx
	 * (if still there) is watched, not looked for on the control socket,
	 * which in the shared directory may be the sending host's vmx.
	 */
	json_t *pending = task_interrupted(), *pt;
	hostd_lock();
	json_array_foreach(rows, i, row) {
		int rid = (int)json_integer_value(json_object_get(row, "id"));
		json_t *incoming = NULL;
		size_t k;
		json_array_foreach(pending, k, pt)
			if (json_integer_value(json_object_get(pt, "vm")) == rid &&
			    !strcmp(json_string_value(json_object_get(pt, "op")) ?: "", "migrateIn"))
				incoming = pt;
		if (incoming) {
			struct hvm *vm = hvm_alloc(rid, json_string_value(json_object_get(row, "name")),
						  json_string_value(json_object_get(row, "file")),
						  json_string_value(json_object_get(row, "path")));
			if (!vm)
				break;
			vm->power = HP_OFF;
			hvm_append(vm);
			int w = hmig_watch(vm, incoming);
			LOG_INF("vm %d: an incoming migration was interrupted; %s", rid,
				w ? "watching its receiving vmx" : "its receiving vmx is gone");
			continue;
		}
		struct hvm *vm = hvm_alloc((int)json_integer_value(json_object_get(row, "id")),
					  json_string_value(json_object_get(row, "name")),
					  json_string_value(json_object_get(row, "file")),
					  json_string_value(json_object_get(row, "path")));
		pid_t pid = (pid_t)json_integer_value(json_object_get(row, "pid"));
		uint64_t start = (uint64_t)json_integer_value(json_object_get(row, "pid_start"));
		bool checkpoint = false;
		if (!vm)
			break;
		buildtype_parse(json_string_value(json_object_get(row, "running_bt")), &vm->running_bt);
		vm->revert_at = json_integer_value(json_object_get(row, "revert_at"));
		snprintf(vm->last_exit, sizeof(vm->last_exit), "%s",
			 json_string_value(json_object_get(row, "last_exit")) ?: "");
		json_t *hello = NULL;
		pid_t ctl_pid = 0;
		/* A vmx the database does not know (hostd died right after spawning it) still answers. */
		if (!(pid && hvm_pid_start(pid) == start) &&
		    vmctl_call(vm->dir, "hello", NULL, 1000, &hello, NULL) == 0) {
			ctl_pid = (pid_t)json_integer_value(json_object_get(hello, "pid"));
			if (ctl_pid > 0) {
				pid = ctl_pid;
				start = hvm_pid_start(pid);
			}
		}
		json_decref(hello);
		if (pid && hvm_adopt(vm, pid, start)) {
			LOG_INF("vm %d: adopted running vmx pid %d", vm->id, (int)pid);
			db_event("hostd", vm->id, "vmAdopted", "adopted running vmx pid %d%s", (int)pid,
				 ctl_pid ? " (found through its control socket)" : "");
		} else {
			vmdir_clean_stale(&g_hostd.cfg, vm->file);
			hvm_read_cfg(vm, NULL, NULL, &checkpoint, NULL);
			vm->power = checkpoint ? HP_SUSPENDED : HP_OFF;
			if (pid) {
				snprintf(vm->last_exit, sizeof(vm->last_exit),
					 "vmx pid %d ended while hostd was not running%s", (int)pid,
					 checkpoint ? "; checkpoint present" : "");
				db_event("hostd", vm->id, "vmExited", "%s", vm->last_exit);
			}
		}
		hvm_save(vm);
		hvm_append(vm);
	}
	json_decref(rows);
	json_decref(pending);

	/* Tasks that a killed hostd left running: say what happened to their VM. */
	tasks = task_interrupted();
	json_array_foreach(tasks, i, t) {
		int tid = (int)json_integer_value(json_object_get(t, "id"));
		int vid = (int)json_integer_value(json_object_get(t, "vm"));
		const char *op = json_string_value(json_object_get(t, "op"));
		const char *what = json_string_value(json_object_get(t, "what"));
		struct hvm *vm = hvm_find(vid);
		char msg[900];
		if (!vm) {
			task_finish(tid, NULL, "interrupted by a restart of hostd; the VM is no longer registered");
			continue;
		}
		bool bt_switch = op && !strcmp(op, "changeBuildType");
		if (op && !strcmp(op, "migrateIn")) {
			snprintf(msg, sizeof(msg), "interrupted by a restart of hostd while %s; %s",
				 what ? what : "running", vm->mig_in_pid ? "its receiving vmx is "
				 "watched: adopted when it runs the guest, the VM unregistered if it ends "
				 "first" : "its receiving vmx is gone");
		} else if (op && !strcmp(op, "migrateOut")) {
			/*
			 * Its vmx may still send the VM, or have sent it: an exit 5 means the
			 * VM runs on the other host (no successor is looked for here), and a
			 * migration in doubt can still be resolved.  The center follows on.
			 */
			vm->mig_out = true;
			snprintf(msg, sizeof(msg), "interrupted by a restart of hostd while %s; the "
				 "VM's vmx (%s) finishes or abandons the migration on its own",
				 what ? what : "running", vm->pid ? "adopted" : "gone");
		} else if (vm->pid && bt_switch) {
			/* Its vmx may still be saving; resume it once it has suspended. */
			vm->recover_resume = true;
			snprintf(msg, sizeof(msg), "interrupted by a restart of hostd while %s; "
				 "the VM is running (pid %d, build type %s) and was adopted; if it "
				 "suspends, hostd resumes it", what ? what : "running", (int)vm->pid,
				 buildtype_name(vm->running_bt));
		} else if (bt_switch && vm->power == HP_SUSPENDED) {
			int http, rt;
			struct verr e2 = { "" };
			rt = vmop_start_locked(vm, OP_RESUME, BUILDTYPE_DEFAULT, 0, SWITCH_FAST,
					       "hostd (recovery)", &http, &e2);
			snprintf(msg, sizeof(msg), "interrupted by a restart of hostd while %s; "
				 "the VM was suspended with a valid checkpoint; %s%.300s",
				 what ? what : "running", rt > 0 ? "hostd resumes it in task " : "resume failed: ",
				 rt > 0 ? "" : e2.msg);
			if (rt > 0)
				snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg), "%d", rt);
		} else {
			snprintf(msg, sizeof(msg), "interrupted by a restart of hostd while %s; "
				 "the VM is %s%s", what ? what : "running", hpower_name(vm->power),
				 vm->power == HP_SUSPENDED ? " with a valid checkpoint" : "");
		}
		task_finish(tid, NULL, msg);
		db_event("hostd", vid, "taskInterrupted", "task %d (%s): %s", tid, op ? op : "?", msg);
	}
	json_decref(tasks);
	hostd_unlock();
	(void)e;
	return 0;
}
