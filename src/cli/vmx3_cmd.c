/*
 * vmx3_cmd.c - vmx3-cmd: the general command line for hostd (the role of
 * vim-cmd): list, create, register, unregister, power operations, tasks,
 * events, users and host information.  Subcommands register in cmds[].
 *
 *   vmx3-cmd [--server S] [--username U] [--password P] [--json] COMMAND [ARGS]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli_common.h"

#define PROG "vmx3-cmd"

struct cmd {
	const char *name;
	const char *args;
	int min_args, max_args;
	int (*fn)(struct cli_conn *c, int argc, char **argv);
	const char *help;
};

static bool g_json;
/* "/hosts/HOST" with --host (a management server): the VM routes of that host. */
static char g_pfx[600];

/* Prints the reply (JSON mode) or calls show; returns the exit status. */
static int done(long st, json_t *reply, long want, void (*show)(json_t *))
{
	int rc = 0;

	if (st != want && !(want == 202 && st == 200)) {
		fprintf(stderr, PROG ": %s\n", cli_errmsg(reply));
		rc = 1;
	} else if (g_json || !show) {
		char *t = json_dumps(reply, JSON_INDENT(2) | JSON_SORT_KEYS);
		printf("%s\n", t);
		free(t);
	} else {
		show(reply);
	}
	json_decref(reply);
	return rc;
}

static void show_list(json_t *r)
{
	json_t *vm;
	size_t i;
	/* A management server's list says each VM's host: a Host column, first. */
	bool hosts = json_object_get(r, "unreachable") != NULL;
	json_array_foreach(json_object_get(r, "vms"), i, vm)
		hosts |= json_object_get(vm, "host") != NULL;

	if (hosts)
		printf("%-12s ", "Host");
	printf("%-6s %-20s %-44s %-12s %s\n", "Vmid", "Name", "File", "Power state", "Build type");
	json_array_foreach(json_object_get(r, "vms"), i, vm) {
		if (hosts)
			printf("%-12s ", cli_jstr(json_object_get(vm, "host")));
		printf("%-6lld %-20s %-44s %-12s %s\n",
		       (long long)json_integer_value(json_object_get(vm, "id")),
		       cli_jstr(json_object_get(vm, "name")),
		       cli_jstr(json_object_get(vm, "file")),
		       cli_jstr(json_object_get(vm, "powerState")),
		       cli_jstr(json_object_get(vm, "buildType")));
	}
	json_array_foreach(json_object_get(r, "unreachable"), i, vm)
		fprintf(stderr, "vmx3-cmd: host %s did not answer: %s\n",
			cli_jstr(json_object_get(vm, "host")), cli_jstr(json_object_get(vm, "message")));
}

static int c_list(struct cli_conn *c, int argc, char **argv)
{
	json_t *r = NULL;
	char p[700];
	snprintf(p, sizeof(p), "%s/vms", g_pfx);
	long st = cli_request(c, "GET", p, NULL, &r);
	return done(st, r, 200, show_list);
}

static int c_get(struct cli_conn *c, int argc, char **argv)
{
	char p[700];
	json_t *r = NULL;
	snprintf(p, sizeof(p), "%s/vms/%s", g_pfx, argv[0]);
	long st = cli_request(c, "GET", p, NULL, &r);
	return done(st, r, 200, NULL);
}

static void show_vm(json_t *r)
{
	printf("Registered VM %lld: %s %s\n", (long long)json_integer_value(json_object_get(r, "id")),
	       cli_jstr(json_object_get(r, "name")), cli_jstr(json_object_get(r, "file")));
}

static int c_register(struct cli_conn *c, int argc, char **argv)
{
	json_t *r = NULL, *b = json_pack("{s:s}", "file", argv[0]);
	long st;
	if (argc > 1)
		json_object_set_new(b, "name", json_string(argv[1]));
	st = cli_request(c, "POST", "/vms", b, &r);
	json_decref(b);
	return done(st, r, 201, show_vm);
}

static int c_create(struct cli_conn *c, int argc, char **argv)
{
	json_t *r = NULL, *kv = json_object(), *b;
	long st;

	for (int i = 1; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		if (!eq) {
			fprintf(stderr, PROG ": create: '%s' is not KEY=VALUE\n", argv[i]);
			json_decref(kv);
			return 2;
		}
		*eq = 0;
		json_object_set_new(kv, argv[i], json_string(eq + 1));
	}
	b = json_pack("{s:s, s:o}", "file", argv[0], "create", kv);
	st = cli_request(c, "POST", "/vms", b, &r);
	json_decref(b);
	return done(st, r, 201, show_vm);
}

static void show_ok(json_t *r)
{
	printf("ok\n");
}

static int c_unregister(struct cli_conn *c, int argc, char **argv)
{
	char p[700];
	json_t *r = NULL;
	snprintf(p, sizeof(p), "%s/vms/%s", g_pfx, argv[0]);
	long st = cli_request(c, "DELETE", p, NULL, &r);
	return done(st, r, 200, show_ok);
}

static void show_task(json_t *t)
{
	json_t *ph;
	size_t i;
	const char *err = json_string_value(json_object_get(t, "error"));

	printf("Task %lld %s VM %lld by %s: %s (%lld%%)%s%s\n",
	       (long long)json_integer_value(json_object_get(t, "id")),
	       cli_jstr(json_object_get(t, "op")),
	       (long long)json_integer_value(json_object_get(t, "vm")),
	       cli_jstr(json_object_get(t, "user")),
	       cli_jstr(json_object_get(t, "state")),
	       (long long)json_integer_value(json_object_get(t, "progress")), err ? ": " : "",
	       err ? err : "");
	json_array_foreach(json_object_get(t, "phases"), i, ph)
		printf("  %-12s %6lld ms\n", cli_jstr(json_object_get(ph, "name")),
		       (long long)json_integer_value(json_object_get(ph, "ms")));
}

/* A request that started a task (202): waits for it, then shows it or its error. */
static int task_done(struct cli_conn *c, long st, json_t *r)
{
	if (st != 202)
		return done(st, r, 202, show_task);
	r = cli_wait_task(c, r, NULL, NULL);
	if (strcmp(json_string_value(json_object_get(r, "state")) ?: "", "success")) {
		const char *e = json_string_value(json_object_get(r, "error"));
		fprintf(stderr, PROG ": %s\n", e ? e : cli_errmsg(r));
		json_decref(r);
		return 1;
	}
	return done(200, r, 200, show_task);
}

static int c_power(struct cli_conn *c, int argc, char **argv)
{
	char p[700];
	json_t *r = NULL, *b = json_pack("{s:s}", "op", argv[1]);
	long st;

	snprintf(p, sizeof(p), "%s/vms/%s/power", g_pfx, argv[0]);
	st = cli_request(c, "POST", p, b, &r);
	json_decref(b);
	return task_done(c, st, r);
}

static void show_tasks(json_t *r)
{
	json_t *t;
	size_t i;
	json_array_foreach(json_object_get(r, "tasks"), i, t)
		show_task(t);
}

static int c_tasks(struct cli_conn *c, int argc, char **argv)
{
	char p[64];
	json_t *r = NULL;
	if (argc) {
		snprintf(p, sizeof(p), "/tasks/%s", argv[0]);
		long st = cli_request(c, "GET", p, NULL, &r);
	return done(st, r, 200, show_task);
	}
	long st = cli_request(c, "GET", "/tasks", NULL, &r);
	return done(st, r, 200, show_tasks);
}

static void show_events(json_t *r)
{
	json_t *e;
	size_t i;
	json_array_foreach(json_object_get(r, "events"), i, e)
		printf("%s %-8s vm=%-4lld %-18s %s\n", cli_jstr(json_object_get(e, "time")),
		       cli_jstr(json_object_get(e, "user")),
		       (long long)json_integer_value(json_object_get(e, "vm_id")),
		       cli_jstr(json_object_get(e, "type")),
		       cli_jstr(json_object_get(e, "message")));
}

static int c_events(struct cli_conn *c, int argc, char **argv)
{
	char p[64];
	json_t *r = NULL;
	snprintf(p, sizeof(p), argc ? "/events?vm=%s" : "/events", argc ? argv[0] : "");
	long st = cli_request(c, "GET", p, NULL, &r);
	return done(st, r, 200, show_events);
}

static void show_users(json_t *r)
{
	json_t *u;
	size_t i;
	json_array_foreach(json_object_get(r, "users"), i, u)
		printf("%-20s %s\n", cli_jstr(json_object_get(u, "name")),
		       cli_jstr(json_object_get(u, "role")));
}

static int c_users(struct cli_conn *c, int argc, char **argv)
{
	json_t *r = NULL;
	long st = cli_request(c, "GET", "/users", NULL, &r);
	return done(st, r, 200, show_users);
}

static int c_useradd(struct cli_conn *c, int argc, char **argv)
{
	const char *pw = getenv("VMX3_NEW_PASSWORD");
	json_t *r = NULL, *b;
	long st;

	if (!pw) {
		fprintf(stderr, PROG ": useradd: set VMX3_NEW_PASSWORD to the new user's password\n");
		return 2;
	}
	b = json_pack("{s:s, s:s, s:s}", "name", argv[0], "role", argv[1], "password", pw);
	st = cli_request(c, "POST", "/users", b, &r);
	json_decref(b);
	return done(st, r, 201, show_ok);
}

static int c_userdel(struct cli_conn *c, int argc, char **argv)
{
	char p[128];
	json_t *r = NULL;
	snprintf(p, sizeof(p), "/users/%s", argv[0]);
	long st = cli_request(c, "DELETE", p, NULL, &r);
	return done(st, r, 200, show_ok);
}

static int c_host(struct cli_conn *c, int argc, char **argv)
{
	json_t *r = NULL;
	long st = cli_request(c, "GET", "/host", NULL, &r);
	return done(st, r, 200, NULL);
}

/* A VM argument: an id as is, or a name looked up (it must match one VM). */
static int vm_ref(struct cli_conn *c, const char *arg, char *id, size_t len)
{
	char q[600], enc[512];
	json_t *r = NULL, *vms;
	long st;

	if (arg[0] && strspn(arg, "0123456789") == strlen(arg)) {
		snprintf(id, len, "%s", arg);
		return 0;
	}
	cli_urlencode(arg, enc, sizeof(enc));
	snprintf(q, sizeof(q), "/vms?name=%s", enc);
	st = cli_request(c, "GET", q, NULL, &r);
	vms = json_object_get(r, "vms");
	if (st != 200 || json_array_size(vms) != 1) {
		if (st != 200)
			fprintf(stderr, PROG ": %s\n", cli_errmsg(r));
		else
			fprintf(stderr, PROG ": %s VM named '%s'\n",
				json_array_size(vms) ? "more than one" : "no", cli_esc(arg));
		json_decref(r);
		return -1;
	}
	snprintf(id, len, "%lld",
		 (long long)json_integer_value(json_object_get(json_array_get(vms, 0), "id")));
	json_decref(r);
	return 0;
}

static void show_stats(json_t *r)
{
	json_t *e, *a, *tot = json_object_get(r, "samplesPerSlot");
	long long hz = json_integer_value(json_object_get(r, "hz")), all = 0;
	size_t i, s;

	printf("VM %lld %s (build %s)\n", (long long)json_integer_value(json_object_get(r, "id")),
	       cli_jstr(json_object_get(r, "name")), cli_jstr(json_object_get(r, "buildType")));
	printf("\n%-40s %14s  per vCPU (0..7, other)\n", "Counter", "Total");
	json_array_foreach(json_object_get(r, "counters"), i, e) {
		printf("%-40s %14lld ", cli_jstr(json_object_get(e, "name")),
		       (long long)json_integer_value(json_object_get(e, "total")));
		json_array_foreach(json_object_get(e, "perSlot"), s, a)
			if (json_integer_value(a))
				printf(" %s=%lld", s == 8 ? "other" : (char[2]){ (char)('0' + s), 0 },
				       (long long)json_integer_value(a));
		printf("\n");
	}
	json_array_foreach(tot, s, a)
		all += json_integer_value(a);
	printf("\n%-32s %14s %10s %10s %7s\n", "Kstat", "Invocations", "Samples", "Est. s", "Share");
	json_array_foreach(json_object_get(r, "kstats"), i, e) {
		long long smp = json_integer_value(json_object_get(e, "samples"));
		printf("%-32s %14lld %10lld %10.2f %6.1f%%\n", cli_jstr(json_object_get(e, "name")),
		       (long long)json_integer_value(json_object_get(e, "invocations")), smp,
		       hz ? (double)smp / (double)hz : 0.0, all ? 100.0 * (double)smp / (double)all : 0.0);
	}
}

static void show_text(json_t *r)
{
	fputs(json_string_value(json_object_get(r, "text")) ?: "", stdout);
}

static int c_stats(struct cli_conn *c, int argc, char **argv)
{
	bool prom = false, json = g_json;
	const char *vm = NULL;
	char id[32], p[96];
	json_t *r = NULL;
	long st;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--prom"))
			prom = true;
		else if (!strcmp(argv[i], "--json"))
			json = true;
		else if (argv[i][0] == '-' || vm) {
			fprintf(stderr, PROG ": usage: " PROG " stats VM [--prom|--json]\n");
			return 2;
		} else
			vm = argv[i];
	}
	if (!vm || (prom && json)) {
		fprintf(stderr, PROG ": usage: " PROG " stats VM [--prom|--json]\n");
		return 2;
	}
	if (vm_ref(c, vm, id, sizeof(id)) < 0)
		return 1;
	snprintf(p, sizeof(p), "/vms/%s/stats%s", id, prom ? "?format=prom" : "");
	st = cli_request(c, "GET", p, NULL, &r);
	if (json && st == 200) {
		g_json = true;
		return done(st, r, 200, NULL);
	}
	return done(st, r, 200, prom ? show_text : show_stats);
}

/* Through a management server: a powered-off or suspended VM to another host. */
static int c_migrate(struct cli_conn *c, int argc, char **argv)
{
	char p[700];
	json_t *r = NULL, *b = json_pack("{s:s}", "to", argv[1]);
	long st;

	if (!g_pfx[0]) {
		json_decref(b);
		fprintf(stderr, PROG ": migrate needs --host (the VM's host) and a management server\n");
		return 2;
	}
	snprintf(p, sizeof(p), "%s/vms/%s/migrate", g_pfx, argv[0]);
	st = cli_request(c, "POST", p, b, &r);
	json_decref(b);
	return task_done(c, st, r);
}

static void show_hosts(json_t *r)
{
	json_t *h;
	size_t i;

	printf("%-12s %-12s %s\n", "Host", "State", "URL");
	json_array_foreach(json_object_get(r, "hosts"), i, h)
		printf("%-12s %-12s %s%s%s\n", cli_jstr(json_object_get(h, "name")),
		       cli_jstr(json_object_get(h, "state")), cli_jstr(json_object_get(h, "url")),
		       json_object_get(h, "message") ? "  " : "",
		       json_object_get(h, "message") ? cli_jstr(json_object_get(h, "message")) : "");
}

static int c_hosts(struct cli_conn *c, int argc, char **argv)
{
	json_t *r = NULL;
	long st = cli_request(c, "GET", "/hosts", NULL, &r);
	return done(st, r, 200, show_hosts);
}

static const struct cmd cmds[] = {
	{ "list", "", 0, 0, c_list, "registered VMs (Vmid, Name, File, Power state, Build type)" },
	{ "get", "VMID", 1, 1, c_get, "one VM as JSON" },
	{ "create", "FILE [KEY=VALUE...]", 1, 64, c_create, "create a VM directory and .vmx, register it" },
	{ "register", "FILE [NAME]", 1, 2, c_register, "register an existing .vmx (\"[ds] dir/NAME.vmx\")" },
	{ "unregister", "VMID", 1, 1, c_unregister, "forget a VM that is not running (files stay)" },
	{ "power", "VMID on|off|hardOff|reset|suspend|resume", 2, 2, c_power, "power operation; waits for the task" },
	{ "tasks", "[TASKID]", 0, 1, c_tasks, "recent tasks, or one with its phases" },
	{ "events", "[VMID]", 0, 1, c_events, "recent events" },
	{ "users", "", 0, 0, c_users, "users and roles (admin)" },
	{ "useradd", "NAME admin|read-only", 2, 2, c_useradd, "add a user; password from $VMX3_NEW_PASSWORD" },
	{ "userdel", "NAME", 1, 1, c_userdel, "remove a user" },
	{ "stats", "VM [--prom|--json]", 1, 2, c_stats, "live stats of a running stats-build VM (name or id)" },
	{ "host", "", 0, 0, c_host, "host information: capacity, datastores, binaries" },
	{ "hosts", "", 0, 0, c_hosts, "management server: its hosts and whether they answer" },
	{ "migrate", "VMID HOST", 2, 2, c_migrate, "management server, with --host: move a powered-off or suspended VM" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: " PROG " [--server S] [--host H] [--username U] [--password P] [--json] COMMAND [ARGS]\n"
		   "  --server: localhost, HOST[:PORT], https://..., unix:/path (default $VMX3_SERVER)\n"
		   "  --host: with a management server, the host whose VMs list, get, power and migrate act on\n"
		   "  password: --password, $VMX3_PASSWORD, or asked without echo\ncommands:\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-10s %-40s %s\n", cmds[i].name, cmds[i].args, cmds[i].help);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' }, { "username", required_argument, NULL, 'u' },
		{ "password", required_argument, NULL, 'p' }, { "json", no_argument, NULL, 'j' },
		{ "host", required_argument, NULL, 'H' },     { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *server = NULL, *user = NULL, *pw = NULL, *host = NULL;
	const struct cmd *cmd = NULL;
	struct cli_conn *c;
	int opt, rc, nargs;

	while ((opt = getopt_long(argc, argv, "+hj", opts, NULL)) != -1) {
		switch (opt) {
		case 's': server = optarg; break;
		case 'u': user = optarg; break;
		case 'p': pw = optarg; break;
		case 'j': g_json = true; break;
		case 'H': host = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(cmds[i].name, argv[optind]))
			cmd = &cmds[i];
	nargs = argc - optind - 1;
	if (!cmd) {
		fprintf(stderr, PROG ": unknown command '%s' (see --help)\n", argv[optind]);
		return 2;
	}
	if (nargs < cmd->min_args || nargs > cmd->max_args) {
		fprintf(stderr, PROG ": usage: " PROG " %s %s\n", cmd->name, cmd->args);
		return 2;
	}
	c = cli_connect(PROG, server);
	if (!c)
		return 1;
	if (cli_login(c, user, pw) < 0) {
		cli_close(c);
		return 1;
	}
	if (host) {
		/* Only against a management server, and only for the commands it passes to a host. */
		json_t *r = NULL;
		long st = cli_request(c, "GET", "/host", NULL, &r);
		const char *kind = json_string_value(json_object_get(r, "kind"));
		bool manager = st == 200 && kind && !strcmp(kind, "manager");
		json_decref(r);
		if (!manager) {
			fprintf(stderr, PROG ": --host is only meaningful with a management server; "
				"%s is a plain hostd (leave --host out)\n", server ? server : "localhost");
			cli_close(c);
			return 2;
		}
		if (cmd->fn != c_list && cmd->fn != c_get && cmd->fn != c_power && cmd->fn != c_migrate) {
			fprintf(stderr, PROG ": %s does not take --host (list, get, power, migrate do)\n",
				cmd->name);
			cli_close(c);
			return 2;
		}
		char enc[400];
		cli_urlencode(host, enc, sizeof(enc));
		snprintf(g_pfx, sizeof(g_pfx), "/hosts/%s", enc);
	}
	rc = cmd->fn(c, nargs, argv + optind + 1);
	cli_close(c);
	return rc;
}
