/*
 * privdrop.c - runs each vmx as an unprivileged user, as libvirt does with
 * QEMU.
 *
 * When hostd runs as root it starts every vmx as hostd.vmxUser (default
 * "vmx3", a system user hostd creates with useradd if it is missing; "root"
 * opts out).  Before a launch the VM directory and the datastore files its
 * .vmx names are handed to that user (chown, never through a symlink, never a
 * file with other hard links); image directories stay read-only and must be
 * readable by it.  vmx creates its own guest-RAM memfd, control socket and
 * logs in the VM directory; hostd, as root, still reaches the socket.
 *
 * The vmx user need not be able to search the directories above any of them
 * (a clone under /root, mode 0700): hostd opens the binary, the VM directory
 * and every file an absolute value names, and the child inherits them
 * (fexecve, --vm-dir-fd, --pass-fd).  Opening through a descriptor still
 * checks each file's own permissions, now as the vmx user.
 *
 * The VM directory then belongs to a less trusted user: whatever hostd does
 * there as root opens files with O_NOFOLLOW (see read_nofollow) so a planted
 * symlink cannot make hostd read or write elsewhere.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "../lib/cfg.h"
#include "../lib/log.h"
#include "hostd.h"

#define DEFAULT_VMX_USER "vmx3"
/* VM directory depth handed over: the directory, its files and stats/ below it. */
#define CHOWN_DEPTH 2

extern char **environ;

static int lookup(const char *name, uid_t *uid, gid_t *gid)
{
	struct passwd pw, *res = NULL;
	char buf[4096];

	if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) != 0 || !res)
		return -ENOENT;
	*uid = res->pw_uid;
	*gid = res->pw_gid;
	return 0;
}

/* useradd --system; a second hostd may be doing the same, so re-check on failure. */
static int create_user(const char *name, struct verr *e)
{
	for (int attempt = 0; attempt < 5; attempt++) {
		pid_t pid = fork();
		int st = 0;
		if (pid < 0)
			return verr_set(e, -errno, "cannot run useradd: %s", strerror(errno));
		if (pid == 0) {
			int nul = open("/dev/null", O_RDWR);
			if (nul >= 0) {
				dup2(nul, 0);
				dup2(nul, 1);
			}
			execlp("useradd", "useradd", "--system", "--user-group", "--no-create-home",
			       "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
			       "--comment", "vmx3 virtual machines", name, (char *)NULL);
			_exit(127);
		}
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		uid_t u;
		gid_t g;
		if (lookup(name, &u, &g) == 0)
			return 0;
		if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
			return verr_set(e, -ENOENT, "hostd.vmxUser: user '%s' does not exist and "
					"useradd is not available", name);
		usleep(200 * 1000);
	}
	return verr_set(e, -EIO, "hostd.vmxUser: cannot create system user '%s' with useradd", name);
}

int privdrop_init(struct hostd_cfg *c, struct verr *e)
{
	int rc;

	c->vmx_uid = 0;
	c->vmx_gid = 0;
	if (geteuid() != 0) {
		/* Not root: vmx runs as hostd's own user, there is nothing to drop. */
		if (c->vmx_user[0] && strcmp(c->vmx_user, "root") != 0)
			LOG_WRN("hostd.vmxUser %s ignored: hostd does not run as root", c->vmx_user);
		return 0;
	}
	if (!c->vmx_user[0])
		snprintf(c->vmx_user, sizeof(c->vmx_user), "%s", DEFAULT_VMX_USER);
	if (!strcmp(c->vmx_user, "root")) {
		LOG_WRN("hostd.vmxUser is root: every vmx runs as root (no privilege separation)");
		return 0;
	}
	if (lookup(c->vmx_user, &c->vmx_uid, &c->vmx_gid) < 0) {
		rc = create_user(c->vmx_user, e);
		if (rc < 0)
			return rc;
		if (lookup(c->vmx_user, &c->vmx_uid, &c->vmx_gid) < 0)
			return verr_set(e, -ENOENT, "hostd.vmxUser: user '%s' not found", c->vmx_user);
		LOG_INF("created system user %s (uid %u)", c->vmx_user, (unsigned)c->vmx_uid);
	}
	if (c->vmx_uid == 0)
		return verr_set(e, -EINVAL, "hostd.vmxUser: '%s' has uid 0; use \"root\" to run vmx "
				"as root on purpose", c->vmx_user);
	LOG_INF("each vmx runs as user %s (uid %u, gid %u)", c->vmx_user, (unsigned)c->vmx_uid,
		(unsigned)c->vmx_gid);
	return 0;
}

/* Hands fd (an O_PATH fd of a regular file or directory) to the vmx user. */
static int give(int fd, const struct hostd_cfg *c)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	/* Another hard link would hand over a file outside (e.g. one of /etc). */
	if (S_ISREG(st.st_mode) && st.st_nlink != 1)
		return -EMLINK;
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		return 0;
	if (st.st_uid == c->vmx_uid && st.st_gid == c->vmx_gid)
		return 0;
	return fchownat(fd, "", c->vmx_uid, c->vmx_gid, AT_EMPTY_PATH) < 0 ? -errno : 0;
}

static void give_tree(int dirfd, const struct hostd_cfg *c, int depth)
{
	int dfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *de;

	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		int fd = openat(dirfd, de->d_name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		struct stat st;
		if (fd < 0)
			continue;
		if (fstat(fd, &st) == 0 && !S_ISLNK(st.st_mode)) {
			int rc = give(fd, c);
			if (rc == -EMLINK)
				LOG_WRN("%s has other hard links: not handed to user %s", de->d_name,
					c->vmx_user);
			if (S_ISDIR(st.st_mode) && depth > 1)
				give_tree(fd, c, depth - 1);
		}
		close(fd);
	}
	closedir(d);
}

void privdrop_fds_close(struct privdrop_fds *f)
{
	if (f->dir_fd >= 0)
		close(f->dir_fd);
	for (unsigned i = 0; i < f->n; i++) {
		close(f->fd[i]);
		free(f->path[i]);
	}
	*f = (struct privdrop_fds){ .dir_fd = -1 };
}

/* Opens the absolute value val for the vmx user (none when it does not exist yet). */
static int pass_file(const struct hostd_cfg *c, const char *key, const char *val,
		     struct privdrop_fds *f, struct verr *e)
{
	int fd;

	for (unsigned i = 0; i < f->n; i++)
		if (!strcmp(f->path[i], val))
			return 0;
	fd = confine_open_abs(c, val, O_PATH);
	if (fd == -ENOENT)
		return 0; /* vmx creates it, and reports it if it cannot */
	if (fd < 0)
		return verr_set(e, fd, "%s: \"%s\": %s", key, val, strerror(-fd));
	if (f->n == PRIVDROP_MAX_FILES) {
		close(fd);
		return verr_set(e, -E2BIG, "%s: more than %d files named by absolute paths", key,
				PRIVDROP_MAX_FILES);
	}
	f->path[f->n] = strdup(val);
	if (!f->path[f->n]) {
		close(fd);
		return verr_set(e, -ENOMEM, "out of memory");
	}
	f->fd[f->n++] = fd;
	return 0;
}

/*
 * One file the .vmx names: passed when absolute, and handed to the vmx user
 * when it lies in the VM's datastore (absent files are vmx's to create).
 */
static int prepare_path(const struct hostd_cfg *c, const struct hostd_ds *ds, int rootfd,
			const char *reldir, const char *key, const char *val,
			struct privdrop_fds *f, struct verr *e)
{
	char frel[PATH_MAX * 2];
	int fd, rc;

	if (!val[0])
		return 0;
	if (val[0] == '/' && (rc = pass_file(c, key, val, f, e)) < 0)
		return rc;
	if (val[0] == '/') {
		size_t dl = strlen(ds->path);
		/* Files in image directories or other datastores are left as they are. */
		if (strncmp(val, ds->path, dl) != 0 || val[dl] != '/')
			return 0;
		snprintf(frel, sizeof(frel), "%s", val + dl + 1);
	} else {
		snprintf(frel, sizeof(frel), "%s/%s", reldir, val);
	}
	fd = confine_open(rootfd, frel, O_PATH);
	if (fd < 0)
		return 0; /* not there yet: vmx creates it in a directory it owns */
	rc = give(fd, c);
	close(fd);
	if (rc == -EMLINK)
		return verr_set(e, -EPERM, "%s: \"%s\" has other hard links; it cannot be "
				"handed to user %s", key, val, c->vmx_user);
	return 0;
}

int privdrop_prepare_vm(const struct hostd_cfg *c, const char *file, struct privdrop_fds *f,
			struct verr *e)
{
	char dsname[64], reldir[PATH_MAX], abs[PATH_MAX];
	const struct hostd_ds *ds;
	const char *rel, *slash, *key, *val;
	struct cfg *vmx;
	size_t pos = 0;
	int rootfd, dirfd, rc;

	*f = (struct privdrop_fds){ .dir_fd = -1 };
	if (!c->vmx_uid)
		return 0;
	if (ds_split(file, dsname, sizeof(dsname), &rel) < 0 || !(ds = ds_find(c, dsname)))
		return verr_set(e, -EINVAL, "file: \"%s\" is not a datastore path", file);
	slash = strrchr(rel, '/');
	snprintf(reldir, sizeof(reldir), "%.*s", slash ? (int)(slash - rel) : 0, rel);
	if (!slash)
		return verr_set(e, -EPERM, "file: \"%s\" sits at the top of datastore '%s': "
				"a VM needs its own directory when vmx runs as user %s", file, dsname,
				c->vmx_user);
	rootfd = confine_root_open(ds->path);
	if (rootfd < 0)
		return verr_set(e, rootfd, "datastore %s: %s", dsname, strerror(-rootfd));
	dirfd = confine_open(rootfd, reldir, O_PATH | O_DIRECTORY);
	if (dirfd < 0) {
		close(rootfd);
		return verr_set(e, dirfd, "file: \"%s\": VM directory: %s", file, strerror(-dirfd));
	}
	rc = give(dirfd, c);
	if (rc == 0)
		give_tree(dirfd, c, CHOWN_DEPTH);
	if (rc < 0) {
		close(dirfd);
		close(rootfd);
		return verr_set(e, rc, "cannot hand the VM directory to user %s: %s", c->vmx_user,
				strerror(-rc));
	}
	f->dir_fd = dirfd;
	/*
	 * Lazy resume needs userfaultfd, which the kernel may refuse an
	 * unprivileged process (vm.unprivileged_userfaultfd = 0); an open
	 * /dev/userfaultfd is the permission to create one (Linux 6.1+).
	 * Without it vmx loads the whole checkpoint before the guest runs.
	 */
	int ufd = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (ufd >= 0) {
		f->path[f->n] = strdup("/dev/userfaultfd");
		if (f->path[f->n])
			f->fd[f->n++] = ufd;
		else
			close(ufd);
	}
	/* Datastore files the .vmx names outside its directory (a shared disk, say). */
	if ((size_t)snprintf(abs, sizeof(abs), "%s/%s", ds->path, rel) >= sizeof(abs)) {
		close(rootfd);
		privdrop_fds_close(f);
		return verr_set(e, -ENAMETOOLONG, "file: \"%s\" is too long", file);
	}
	rc = cfg_load(abs, &vmx, e);
	if (rc < 0) {
		close(rootfd);
		privdrop_fds_close(f);
		return rc;
	}
	rc = 0;
	while (rc == 0 && cfg_iter(vmx, &pos, &key, &val)) {
		const char *cur = val, *path;
		char pbuf[PATH_MAX];
		if (!confine_is_file_key(key))
			continue;
		/* Each path the key names (guest.userSymbols names several). */
		while (rc == 0 && (path = confine_next_path(key, &cur, pbuf, sizeof(pbuf))))
			rc = prepare_path(c, ds, rootfd, reldir, key, path, f, e);
		if (rc == 0 && *cur)
			rc = verr_set(e, -ENAMETOOLONG, "%s: an entry is too long", key);
	}
	cfg_free(vmx);
	close(rootfd);
	if (rc < 0)
		privdrop_fds_close(f);
	return rc;
}

/* Async-signal-safe message to fd 1 of the child (vmx-stdio.log). */
static void child_say(const char *a, const char *b, int err)
{
	const char *es = strerrorname_np(err);
	write(1, "hostd: ", 7);
	write(1, a, strlen(a));
	write(1, b, strlen(b));
	write(1, ": ", 2);
	write(1, es ? es : "error", strlen(es ? es : "error"));
	write(1, "\n", 1);
}

/* Descriptor numbers in the child: the VM directory, then the passed files, then the binary. */
#define CHILD_FD0 3

/* The argument vector: bin args... --vm-dir-fd 3 --pass-fd 4:PATH ... vmx_file. */
static char **build_argv(const char *bin, const char *const *args, const char *vmx_file,
			 const struct privdrop_fds *f)
{
	unsigned nargs = 0, n = 0;
	char **argv;

	while (args && args[nargs])
		nargs++;
	argv = calloc(nargs + 2 * (f ? f->n : 0) + (f ? f->nextra : 0) + 5, sizeof(*argv));
	if (!argv)
		return NULL;
	argv[n++] = strdup(bin);
	for (unsigned i = 0; i < nargs; i++)
		argv[n++] = strdup(args[i]);
	if (f && f->dir_fd >= 0) {
		argv[n++] = strdup("--vm-dir-fd");
		if (asprintf(&argv[n++], "%d", CHILD_FD0) < 0)
			argv[n - 1] = NULL;
		for (unsigned i = 0; i < f->n; i++) {
			argv[n++] = strdup("--pass-fd");
			if (asprintf(&argv[n++], "%d:%s", CHILD_FD0 + 1 + (int)i, f->path[i]) < 0)
				argv[n - 1] = NULL;
		}
	}
	/* The extra descriptors follow the directory and the files (privdrop_spawn). */
	int next = CHILD_FD0 + (f && f->dir_fd >= 0 ? 1 + (int)f->n : 0);
	for (unsigned i = 0; f && i < f->nextra; i++)
		if (asprintf(&argv[n++], f->extra_opt[i], next + (int)i) < 0)
			argv[n - 1] = NULL;
	argv[n++] = strdup(vmx_file);
	for (unsigned i = 0; i < n; i++)
		if (!argv[i]) {
			for (unsigned k = 0; k < n; k++)
				free(argv[k]);
			free(argv);
			return NULL;
		}
	return argv;
}

pid_t privdrop_spawn(const struct hostd_cfg *c, const char *bin, const char *const *args,
		     const char *vmx_file, const struct privdrop_fds *f, int out_fd, int *err)
{
	int src[PRIVDROP_MAX_FILES + PRIVDROP_MAX_EXTRA + 2], nsrc = 0;
	char **argv = build_argv(bin, args, vmx_file, f);
	int bin_fd = open(bin, O_PATH | O_CLOEXEC);
	char **envp = environ;
	pid_t pid;

	if (argv && f && f->extra_env) {
		/* Built here: the child may only make async-signal-safe calls. */
		size_t ne = 0;
		while (environ[ne])
			ne++;
		envp = calloc(ne + 2, sizeof(*envp));
		if (envp) {
			memcpy(envp, environ, ne * sizeof(*envp));
			envp[ne] = (char *)f->extra_env;
		}
	}
	if (!argv || bin_fd < 0 || !envp) {
		*err = !argv || !envp ? ENOMEM : errno;
		if (envp != environ)
			free(envp);
		if (bin_fd >= 0)
			close(bin_fd);
		if (argv)
			for (char **a = argv; *a; a++)
				free(*a);
		free(argv);
		return -1;
	}
	if (f && f->dir_fd >= 0) {
		src[nsrc++] = f->dir_fd;
		for (unsigned i = 0; i < f->n; i++)
			src[nsrc++] = f->fd[i];
	}
	for (unsigned i = 0; f && i < f->nextra && i < PRIVDROP_MAX_EXTRA; i++)
		src[nsrc++] = f->extra_fd[i];
	src[nsrc++] = bin_fd;
	pid = fork();
	if (pid != 0) {
		*err = pid < 0 ? errno : 0;
		close(bin_fd);
		if (envp != environ)
			free(envp);
		for (char **a = argv; *a; a++)
			free(*a);
		free(argv);
		return pid;
	}
	/* Child: only async-signal-safe calls until execve. */
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;
	for (int s = 1; s < NSIG; s++)
		sigaction(s, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setsid();
	int nul = open("/dev/null", O_RDONLY);
	if (nul < 0 || dup2(nul, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0)
		_exit(126);
	/*
	 * Move the descriptors to CHILD_FD0...: first above that range (F_DUPFD
	 * never replaces an open fd), then into place, so no source is
	 * overwritten before it is copied.  The binary's stays open across the
	 * exec: a script (the tests' fake vmx) is read by its interpreter
	 * through /dev/fd/N.
	 */
	int tmp[PRIVDROP_MAX_FILES + PRIVDROP_MAX_EXTRA + 2];
	for (int i = 0; i < nsrc; i++)
		if ((tmp[i] = fcntl(src[i], F_DUPFD_CLOEXEC, CHILD_FD0 + nsrc)) < 0)
			_exit(126);
	for (int i = 0; i < nsrc; i++)
		if (dup2(tmp[i], CHILD_FD0 + i) < 0)
			_exit(126);
	close_range(CHILD_FD0 + nsrc, ~0u, 0);
	if (c->vmx_uid) {
		gid_t g = c->vmx_gid;
		if (setgroups(1, &g) < 0 || setgid(c->vmx_gid) < 0 || setuid(c->vmx_uid) < 0) {
			child_say("cannot switch to user ", c->vmx_user, errno);
			_exit(126);
		}
		/* Dropped for good: getting root back must fail. */
		if (setuid(0) == 0) {
			child_say("still root after switching to ", c->vmx_user, EPERM);
			_exit(126);
		}
	}
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	umask(027);
	fexecve(CHILD_FD0 + nsrc - 1, argv, envp);
	int exec_err = errno;
	child_say("cannot run ", bin, exec_err);
	if (exec_err == EACCES && c->vmx_uid) {
		const char *why = "hostd: the binary must be executable by user ";
		write(1, why, strlen(why));
		write(1, c->vmx_user, strlen(c->vmx_user));
		write(1, "\n", 1);
	}
	_exit(127);
}

int vmdir_clean_stale(const struct hostd_cfg *c, const char *file)
{
	char dsname[64], reldir[PATH_MAX];
	const struct hostd_ds *ds;
	const char *rel, *slash;
	struct dirent *de;
	int rootfd, dirfd, n = 0;
	DIR *d;

	if (ds_split(file, dsname, sizeof(dsname), &rel) < 0 || !(ds = ds_find(c, dsname)))
		return -EINVAL;
	slash = strrchr(rel, '/');
	snprintf(reldir, sizeof(reldir), "%.*s", slash ? (int)(slash - rel) : 0, rel);
	rootfd = confine_root_open(ds->path);
	if (rootfd < 0)
		return rootfd;
	dirfd = confine_open(rootfd, reldir, O_RDONLY | O_DIRECTORY);
	close(rootfd);
	if (dirfd < 0)
		return dirfd;
	d = fdopendir(dirfd);
	if (!d) {
		close(dirfd);
		return -errno;
	}
	while ((de = readdir(d))) {
		struct stat st;
		/* A killed vmx leaves its half-written checkpoint, .vmx temporaries and socket. */
		bool tmp = strstr(de->d_name, ".vmss.tmp") || strstr(de->d_name, ".vmx.tmp");
		bool ctl = !strcmp(de->d_name, "vmx.ctl");
		if (!tmp && !ctl)
			continue;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if ((tmp && !S_ISREG(st.st_mode)) || (ctl && !S_ISSOCK(st.st_mode)))
			continue;
		if (unlinkat(dirfd, de->d_name, 0) == 0) {
			LOG_INF("%s: removed stale %s", file, de->d_name);
			n++;
		}
	}
	closedir(d);
	return n;
}
