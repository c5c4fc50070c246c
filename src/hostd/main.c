/*
 * main.c - hostd: one daemon per host that registers VMs, runs one vmx per
 * powered-on VM and serves the HTTP API.
 *
 *   hostd --state DIR [--config FILE] [--port N] [--listen ADDR] [--datastore NAME=PATH]...
 *         [--images DIR]... [--mem-capacity MB] [--vmx-dir DIR] [--vmx-user NAME]
 *         [--per-ip-limit N] [--allow-plain-http]
 *   hostd --state DIR useradd NAME admin|read-only   (password: $VMX3_PASSWORD or stdin)
 *
 * Stopping hostd (SIGTERM, SIGINT) leaves running VMs running; the next hostd
 * on the same state directory adopts them through their control sockets.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "../lib/build.h"
#include "../lib/cfg.h"
#include "../lib/fileutil.h"
#include "../lib/log.h"
#include "hostd.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hostd --state DIR [options]          run the daemon (foreground)\n"
		"       hostd --state DIR useradd NAME ROLE  add a user (ROLE admin or read-only);\n"
		"                                            password from $VMX3_PASSWORD or stdin\n"
		"options (override hostd.conf in the state directory):\n"
		"  --config FILE          settings file (default STATE/hostd.conf)\n"
		"  --port N               TCP port (0: Unix socket only; default %d)\n"
		"  --listen ADDR          IPv4 address of the TCP listener (default 127.0.0.1)\n"
		"  --datastore NAME=PATH  add a datastore (repeatable)\n"
		"  --images DIR           add a read-only image directory (repeatable)\n"
		"  --mem-capacity MB      host memory capacity for admission control\n"
		"  --vmx-dir DIR          where vmx, vmx-debug and vmx-stats are\n"
		"  --vmx-user NAME        user each vmx runs as when hostd is root (default vmx3;\n"
		"                         root: no privilege separation)\n"
		"  --per-ip-limit N       TCP connections per client address (default %d)\n"
		"  --allow-plain-http     allow HTTP without TLS on a non-loopback address\n"
		"  --version, --help\n", HOSTD_DEFAULT_PORT, HOSTD_DEFAULT_PER_IP);
}

/* Path relative to the state directory unless absolute. */
static void state_path(char *out, size_t len, const char *p)
{
	if (p[0] == '/')
		snprintf(out, len, "%s", p);
	else
		snprintf(out, len, "%s/%s", g_hostd.cfg.state_dir, p);
}

/* Adds a read-only image directory (by its real path). */
static int images_add(struct hostd_cfg *c, const char *dir, struct verr *e)
{
	char real[PATH_MAX];

	if (c->nimages >= HOSTD_MAX_IMAGES)
		return verr_set(e, -E2BIG, "too many image directories (at most %d)", HOSTD_MAX_IMAGES);
	if (!realpath(dir, real))
		return verr_set(e, -errno, "image directory %s: %s", dir, strerror(errno));
	snprintf(c->images[c->nimages++], PATH_MAX, "%s", real);
	return 0;
}

static int load_config(const char *path, bool required, struct verr *e)
{
	struct hostd_cfg *c = &g_hostd.cfg;
	const char *key, *val;
	struct cfg *f;
	uint64_t v;
	size_t pos = 0;
	int rc;

	if (!required && access(path, F_OK) < 0)
		return 0;
	rc = cfg_load(path, &f, e);
	if (rc < 0)
		return rc;
	while (cfg_iter(f, &pos, &key, &val)) {
		if (!strncasecmp(key, "datastore.", 10)) {
			char p[PATH_MAX];
			state_path(p, sizeof(p), val);
			rc = ds_add(c, key + 10, p, e);
		} else if (!strcasecmp(key, "hostd.listen")) {
			snprintf(c->listen_addr, sizeof(c->listen_addr), "%s", val);
		} else if (!strcasecmp(key, "hostd.migrationAddress")) {
			snprintf(c->migration_addr, sizeof(c->migration_addr), "%s", val);
		} else if (!strcasecmp(key, "hostd.port")) {
			rc = cfg_get_u64(f, key, HOSTD_DEFAULT_PORT, 0, 65535, &v, e);
			c->port = (unsigned)v;
		} else if (!strcasecmp(key, "hostd.socket")) {
			if (val[0])
				state_path(c->sock_path, sizeof(c->sock_path), val);
			else
				c->sock_path[0] = 0;
		} else if (!strcasecmp(key, "hostd.vmxDir")) {
			snprintf(c->vmx_dir, sizeof(c->vmx_dir), "%s", val);
		} else if (!strcasecmp(key, "hostd.memCapacityMB")) {
			rc = cfg_get_u64(f, key, 0, 1, 1ull << 32, &c->mem_capacity_mb, e);
		} else if (!strcasecmp(key, "hostd.shutdownTimeout")) {
			rc = cfg_get_duration(f, key, 30, &c->shutdown_timeout_s, e);
		} else if (!strcasecmp(key, "hostd.launchTimeout")) {
			rc = cfg_get_duration(f, key, 30, &c->launch_timeout_s, e);
		} else if (!strcasecmp(key, "hostd.tlsCert")) {
			state_path(c->tls_cert, sizeof(c->tls_cert), val);
		} else if (!strcasecmp(key, "hostd.tlsKey")) {
			state_path(c->tls_key, sizeof(c->tls_key), val);
		} else if (!strncasecmp(key, "images.", 7)) {
			char p[PATH_MAX];
			state_path(p, sizeof(p), val);
			rc = images_add(c, p, e);
		} else if (!strcasecmp(key, "hostd.vmxUser")) {
			snprintf(c->vmx_user, sizeof(c->vmx_user), "%s", val);
		} else if (!strcasecmp(key, "hostd.perIpConnections")) {
			rc = cfg_get_u64(f, key, HOSTD_DEFAULT_PER_IP, 1, 1000, &v, e);
			c->per_ip_limit = (unsigned)v;
		} else if (!strcasecmp(key, "hostd.connectionTimeout")) {
			rc = cfg_get_duration(f, key, HOSTD_DEFAULT_CONN_TIMEOUT, &v, e);
			if (rc == 0 && (v == 0 || v > 3600))
				rc = verr_set(e, -EINVAL, "%s:%u: hostd.connectionTimeout: 1 s .. 1 h",
					      path, cfg_line(f, key));
			c->conn_timeout_s = (unsigned)v;
		} else if (!strcasecmp(key, "hostd.allowPlainHttp")) {
			rc = cfg_get_bool(f, key, false, &c->allow_plain_http, e);
		} else if (!strcasecmp(key, "hostd.eventsMaxAge")) {
			rc = cfg_get_duration(f, key, HOSTD_DEFAULT_EVENTS_AGE, &c->events_max_age_s, e);
		} else if (!strcasecmp(key, "hostd.eventsMaxCount")) {
			rc = cfg_get_u64(f, key, HOSTD_DEFAULT_EVENTS_COUNT, 100, 100000000,
					 &c->events_max_count, e);
		} else if (!strcasecmp(key, "hostd.loginEventInterval")) {
			rc = cfg_get_duration(f, key, HOSTD_DEFAULT_LOGIN_COALESCE, &c->login_coalesce_s, e);
		} else {
			rc = verr_set(e, -EINVAL, "%s:%u: unknown key '%s'", path, cfg_line(f, key), key);
		}
		if (rc < 0)
			break;
	}
	cfg_free(f);
	if (rc == 0 && !c->tls_cert[0] != !c->tls_key[0])
		rc = verr_set(e, -EINVAL, "%s: hostd.tlsCert and hostd.tlsKey go together", path);
	return rc;
}

static int read_password(char *buf, size_t len)
{
	const char *env = getenv("VMX3_PASSWORD");
	size_t n;

	if (env) {
		snprintf(buf, len, "%s", env);
		return 0;
	}
	if (!fgets(buf, (int)len, stdin))
		return -EIO;
	n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = 0;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "port", required_argument, NULL, 'p' },
		{ "datastore", required_argument, NULL, 'd' },
		{ "mem-capacity", required_argument, NULL, 'm' },
		{ "vmx-dir", required_argument, NULL, 'x' },
		{ "listen", required_argument, NULL, 'l' },
		{ "images", required_argument, NULL, 'i' },
		{ "vmx-user", required_argument, NULL, 'u' },
		{ "per-ip-limit", required_argument, NULL, 'P' },
		{ "allow-plain-http", no_argument, NULL, 'A' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct hostd_cfg *c = &g_hostd.cfg;
	const char *state = NULL, *config = NULL, *port = NULL, *mem = NULL, *vmxdir = NULL;
	const char *listen = NULL, *vmxuser = NULL, *perip = NULL;
	const char *ds_args[HOSTD_MAX_DS], *img_args[HOSTD_MAX_IMAGES + 1];
	unsigned nds_args = 0, nimg_args = 0;
	bool plain_http = false;
	char path[PATH_MAX + 32], self[PATH_MAX];
	struct verr e = { "" };
	sigset_t sigs;
	int opt, rc, lockfd, sig;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 's': state = optarg; break;
		case 'c': config = optarg; break;
		case 'p': port = optarg; break;
		case 'm': mem = optarg; break;
		case 'x': vmxdir = optarg; break;
		case 'l': listen = optarg; break;
		case 'u': vmxuser = optarg; break;
		case 'P': perip = optarg; break;
		case 'A': plain_http = true; break;
		case 'i':
			if (nimg_args <= HOSTD_MAX_IMAGES)
				img_args[nimg_args++] = optarg;
			break;
		case 'd':
			if (nds_args < HOSTD_MAX_DS)
				ds_args[nds_args++] = optarg;
			break;
		case 'V':
			printf("vmx3 hostd %s (build %s)\n", vmx_version, vmx_revision);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!state) {
		fprintf(stderr, "hostd: --state DIR is required\n");
		usage(stderr);
		return 2;
	}
	/*
	 * hostd.db holds password hashes and sessions: nothing hostd creates is for
	 * other users, whatever umask it was started with (the modes of the files
	 * that matter are also set explicitly below).
	 */
	umask(077);
	mkdir(state, 0750);
	if (!realpath(state, c->state_dir)) {
		fprintf(stderr, "hostd: state directory %s: %s\n", state, strerror(errno));
		return 1;
	}
	ssize_t sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[sl > 0 ? sl : 0] = 0;
	file_dirname(self, c->self_dir, sizeof(c->self_dir));
	snprintf(c->listen_addr, sizeof(c->listen_addr), "127.0.0.1");
	c->port = HOSTD_DEFAULT_PORT;
	snprintf(path, sizeof(path), "%s/hostd.sock", c->state_dir);
	snprintf(c->sock_path, sizeof(c->sock_path), "%s", path);
	c->shutdown_timeout_s = 30;
	c->launch_timeout_s = 30;
	c->per_ip_limit = HOSTD_DEFAULT_PER_IP;
	c->conn_timeout_s = HOSTD_DEFAULT_CONN_TIMEOUT;
	c->events_max_age_s = HOSTD_DEFAULT_EVENTS_AGE;
	c->events_max_count = HOSTD_DEFAULT_EVENTS_COUNT;
	c->login_coalesce_s = HOSTD_DEFAULT_LOGIN_COALESCE;
	snprintf(path, sizeof(path), "%s/crash", c->state_dir);
	mkdir(path, 0750);

	if (config) {
		rc = load_config(config, true, &e);
	} else {
		snprintf(path, sizeof(path), "%s/hostd.conf", c->state_dir);
		rc = load_config(path, false, &e);
	}
	for (unsigned i = 0; rc == 0 && i < nds_args; i++) {
		char name[64];
		const char *eq = strchr(ds_args[i], '=');
		if (!eq || eq == ds_args[i] || (size_t)(eq - ds_args[i]) >= sizeof(name)) {
			rc = verr_set(&e, -EINVAL, "--datastore %s: use NAME=PATH", ds_args[i]);
			break;
		}
		snprintf(name, sizeof(name), "%.*s", (int)(eq - ds_args[i]), ds_args[i]);
		rc = ds_add(c, name, eq + 1, &e);
	}
	if (rc == 0 && port) {
		char *end;
		unsigned long p = strtoul(port, &end, 10);
		if (*end || p > 65535)
			rc = verr_set(&e, -EINVAL, "--port %s: not a port number", port);
		c->port = (unsigned)p;
	}
	if (rc == 0 && mem) {
		char *end;
		c->mem_capacity_mb = strtoull(mem, &end, 10);
		if (*end || !c->mem_capacity_mb)
			rc = verr_set(&e, -EINVAL, "--mem-capacity %s: not a number of MiB", mem);
	}
	for (unsigned i = 0; rc == 0 && i < nimg_args; i++)
		rc = images_add(c, img_args[i], &e);
	if (rc == 0 && perip) {
		char *end;
		unsigned long n = strtoul(perip, &end, 10);
		if (*end || n < 1 || n > 1000)
			rc = verr_set(&e, -EINVAL, "--per-ip-limit %s: a number 1..1000", perip);
		c->per_ip_limit = (unsigned)n;
	}
	if (listen)
		snprintf(c->listen_addr, sizeof(c->listen_addr), "%s", listen);
	if (vmxuser)
		snprintf(c->vmx_user, sizeof(c->vmx_user), "%s", vmxuser);
	if (plain_http)
		c->allow_plain_http = true;
	if (vmxdir)
		snprintf(c->vmx_dir, sizeof(c->vmx_dir), "%s", vmxdir);
	if (!c->mem_capacity_mb)
		c->mem_capacity_mb = admit_host_mem_mb();
	if (rc < 0) {
		fprintf(stderr, "hostd: %s\n", e.msg);
		return 1;
	}
	if (auth_init() < 0) {
		fprintf(stderr, "hostd: libsodium initialisation failed\n");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/hostd.db", c->state_dir);
	if (db_open(path, &e) < 0) {
		fprintf(stderr, "hostd: %s\n", e.msg);
		return 1;
	}
	db_set_event_limits(c->events_max_age_s, c->events_max_count, c->login_coalesce_s);
	/* Also when an older hostd created them with a looser mode. */
	for (const char *const *sfx = (const char *const[]){ "", "-wal", "-shm", NULL }; *sfx; sfx++) {
		snprintf(path, sizeof(path), "%s/hostd.db%s", c->state_dir, *sfx);
		chmod(path, 0600);
	}

	if (optind < argc) {
		char pw[256];
		enum role r;
		if (strcmp(argv[optind], "useradd") != 0 || optind + 3 != argc ||
		    role_parse(argv[optind + 2], &r) < 0) {
			usage(stderr);
			return 2;
		}
		if (read_password(pw, sizeof(pw)) < 0 ||
		    auth_user_add(argv[optind + 1], pw, r, &e) < 0) {
			fprintf(stderr, "hostd: useradd: %s\n", e.msg[0] ? e.msg : "no password given");
			return 1;
		}
		log_level_cur = LOG_WARN; /* no log file here; keep the terminal quiet */
		db_event("hostd", 0, "userAdded", "user %s (%s) added on the command line",
			 argv[optind + 1], role_name(r));
		db_close();
		return 0;
	}

	/* One hostd per state directory. */
	snprintf(path, sizeof(path), "%s/hostd.lock", c->state_dir);
	lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (lockfd < 0 || flock(lockfd, LOCK_EX | LOCK_NB) < 0) {
		fprintf(stderr, "hostd: another hostd is running on %s\n", c->state_dir);
		return 1;
	}
	if (ftruncate(lockfd, 0) == 0)
		dprintf(lockfd, "%d\n", (int)getpid());

	/* Signals are taken by sigwait below; every thread inherits the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	log_set_thread_name("hostd");
	if (log_open(c->state_dir, "hostd", 5, "host", true, &e) < 0) {
		fprintf(stderr, "hostd: %s\n", e.msg);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/hostd.log", c->state_dir);
	chmod(path, 0600);
	if (privdrop_init(c, &e) < 0) {
		LOG_ERR("%s", e.msg);
		fprintf(stderr, "hostd: %s\n", e.msg);
		return 1;
	}
	LOG_INF("hostd %s build %s, state %s, capacity %llu MiB, %u datastore(s)", vmx_version,
		vmx_revision, c->state_dir, (unsigned long long)c->mem_capacity_mb, c->nds);
	db_prune_events();
	rc = hvm_restore(&e);
	if (rc == 0)
		rc = vmsup_start();
	if (rc == 0)
		rc = api_start(&e);
	if (rc < 0) {
		LOG_ERR("%s", e.msg[0] ? e.msg : strerror(-rc));
		vmsup_stop();
		db_close();
		log_close();
		return 1;
	}
	LOG_INF("serving the API on %s%s%u and %s", c->port ? c->listen_addr : "",
		c->port ? ":" : "", c->port, c->sock_path);
	printf("hostd ready: %s%s%s%u unix:%s\n", c->tls_cert[0] ? "https://" : "http://",
	       c->port ? c->listen_addr : "(no tcp)", c->port ? ":" : "", c->port, c->sock_path);
	fflush(stdout);

	do {
		if (sigwait(&sigs, &sig) != 0)
			break;
	} while (sig == SIGHUP);
	LOG_INF("signal %d: stopping (running VMs keep running)", sig);
	api_stop();
	vmsup_stop();
	db_close();
	log_close();
	close(lockfd);
	return 0;
}
