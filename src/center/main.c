/*
 * main.c - vmx3-center: parse the options, open etcd, lead or follow, serve
 * the API until a signal, stop (docs/CENTER.md).
 *
 *   vmx3-center --name NAME [--etcd URL[,URL...]] [--port N] [--listen ADDR]
 *               [--prefix /vmx3/] [--lease-ttl S] [--log-dir DIR]
 *   vmx3-center [--etcd ...] [--prefix ...] useradd NAME admin|read-only
 *               (password from $VMX3_NEW_PASSWORD or $VMX3_PASSWORD)
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../lib/log.h"
#include "center.h"

struct center g_center;

const char *center_key(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(out, len, "%s", g_center.cfg.prefix);

	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < len)
		vsnprintf(out + n, len - (size_t)n, fmt, ap);
	va_end(ap);
	return out;
}

bool center_name_ok(const char *s, size_t max)
{
	size_t l = strlen(s);

	if (!l || l > max)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '-' || *s == '_' || *s == '.'))
			return false;
	return true;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: vmx3-center --name NAME [--etcd URL[,URL...]] [--port N] [--listen ADDR]\n"
		   "                   [--prefix /vmx3/] [--lease-ttl S] [--log-dir DIR]\n"
		   "       vmx3-center [--etcd ...] [--prefix ...] useradd NAME admin|read-only\n"
		   "  --name NAME       this center's name, unique in the cluster\n"
		   "  --etcd URLS       etcd client endpoints (default http://127.0.0.1:2379)\n"
		   "  --port N          API port on loopback (default %d)\n"
		   "  --lease-ttl S     leadership moves this long after the leader dies (default %d)\n"
		   "  useradd: the password comes from $VMX3_NEW_PASSWORD or $VMX3_PASSWORD\n",
		CENTER_DEFAULT_PORT, CENTER_DEFAULT_TTL_S);
}

static int parse(int argc, char **argv, struct center_cfg *c, const char **logdir)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },     { "etcd", required_argument, NULL, 'e' },
		{ "port", required_argument, NULL, 'p' },     { "listen", required_argument, NULL, 'l' },
		{ "prefix", required_argument, NULL, 'x' },   { "lease-ttl", required_argument, NULL, 't' },
		{ "log-dir", required_argument, NULL, 'd' },  { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int o;
	char *end;

	snprintf(c->etcd, sizeof(c->etcd), "http://127.0.0.1:2379");
	snprintf(c->prefix, sizeof(c->prefix), "/vmx3/");
	snprintf(c->listen_addr, sizeof(c->listen_addr), "127.0.0.1");
	c->port = CENTER_DEFAULT_PORT;
	c->lease_ttl_s = CENTER_DEFAULT_TTL_S;
	while ((o = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (o) {
		case 'n': snprintf(c->name, sizeof(c->name), "%s", optarg); break;
		case 'e': snprintf(c->etcd, sizeof(c->etcd), "%s", optarg); break;
		case 'l': snprintf(c->listen_addr, sizeof(c->listen_addr), "%s", optarg); break;
		case 'd': *logdir = optarg; break;
		case 'x':
			if (optarg[0] != '/' || optarg[strlen(optarg) - 1] != '/' ||
			    strlen(optarg) >= sizeof(c->prefix)) {
				fprintf(stderr, "vmx3-center: --prefix: '%s' must start and end with '/'\n",
					optarg);
				return -1;
			}
			snprintf(c->prefix, sizeof(c->prefix), "%s", optarg);
			break;
		case 'p':
			c->port = (unsigned)strtoul(optarg, &end, 10);
			if (*end || !*optarg || c->port == 0 || c->port > 65535) {
				fprintf(stderr, "vmx3-center: --port: '%s' is not a port (1-65535)\n", optarg);
				return -1;
			}
			break;
		case 't':
			c->lease_ttl_s = (int)strtol(optarg, &end, 10);
			if (*end || !*optarg || c->lease_ttl_s < 2 || c->lease_ttl_s > 600) {
				fprintf(stderr, "vmx3-center: --lease-ttl: '%s' is not 2-600 seconds\n",
					optarg);
				return -1;
			}
			break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	return 0;
}

static int useradd(int argc, char **argv)
{
	const char *pw = getenv("VMX3_NEW_PASSWORD") ?: getenv("VMX3_PASSWORD");
	struct verr e = { "" };
	enum crole r;

	if (argc != 3 || crole_parse(argv[2], &r) < 0) {
		usage(stderr);
		return 2;
	}
	if (!pw || !*pw) {
		fprintf(stderr, "vmx3-center: useradd: set $VMX3_NEW_PASSWORD to the password\n");
		return 2;
	}
	if (cauth_useradd(argv[1], pw, r, &e) < 0) {
		fprintf(stderr, "vmx3-center: useradd: %s\n", e.msg);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct center_cfg *c = &g_center.cfg;
	const char *logdir = NULL;
	struct verr e = { "" };
	sigset_t sigs;
	int sig, rc;

	if (parse(argc, argv, c, &logdir) < 0)
		return 2;
	if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		fprintf(stderr, "vmx3-center: libsodium or libcurl initialisation failed\n");
		return 1;
	}
	if (etcd_open(c->etcd, &g_center.etcd, &e) < 0) {
		fprintf(stderr, "vmx3-center: %s\n", e.msg);
		return 2;
	}
	if (optind < argc) {
		rc = strcmp(argv[optind], "useradd") ? (usage(stderr), 2) :
						       useradd(argc - optind, argv + optind);
		etcd_close(g_center.etcd);
		return rc;
	}
	if (!c->name[0]) {
		fprintf(stderr, "vmx3-center: --name is required (unique in the cluster)\n");
		return 2;
	}
	snprintf(g_center.url, sizeof(g_center.url), "http://%s:%u", c->listen_addr, c->port);

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	log_set_thread_name("center");
	if (logdir && log_open(logdir, "vmx3-center", 5, "host", true, &e) < 0) {
		fprintf(stderr, "vmx3-center: %s\n", e.msg);
		return 1;
	}
	rc = capi_start(&e);
	if (rc == 0)
		rc = lead_start(&e);
	if (rc < 0) {
		fprintf(stderr, "vmx3-center: %s\n", e.msg);
		capi_stop();
		etcd_close(g_center.etcd);
		return 1;
	}
	LOG_INF("vmx3-center %s serving %s, etcd %s, prefix %s", c->name, g_center.url, c->etcd,
		c->prefix);
	printf("vmx3-center ready: %s\n", g_center.url);
	fflush(stdout);
	sigwait(&sigs, &sig);
	LOG_INF("signal %d: stopping (handing leadership over)", sig);
	capi_stop();
	lead_stop();
	ctask_stop();
	etcd_close(g_center.etcd);
	log_close();
	curl_global_cleanup();
	return 0;
}
