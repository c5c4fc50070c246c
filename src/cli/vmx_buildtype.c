/*
 * vmx_buildtype.c - vmx-buildtype: query or change a VM's vmx build type
 * through hostd, with the options and output of the seed's How-To.
 *
 *   vmx-buildtype --server localhost --vmname m0n0wall --buildType debug
 *   vmx-buildtype --server localhost --vmfile "[storage1] m0n0wall/m0n0wall.vmx"
 *
 * Exit status: 0 success, 1 the operation failed, 2 usage.  Errors are one
 * line on stderr.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli_common.h"

#define PROG "vmx-buildtype"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " [--server SERVER] [--host HOST] [--username NAME] [--password WORD]\n"
		"                     (--vmfile \"[ds] dir/NAME.vmx\" | --vmname NAME)\n"
		"                     [--buildType {default,debug,stats}] [--revertAfter DURATION]\n"
		"                     [--method {fast,suspend}] [--verbose]\n"
		"Without --buildType, shows the VM's build type.  With it, changes the build type:\n"
		"a powered-off or suspended VM is reconfigured; a powered-on VM moves to the new\n"
		"vmx binary, by default handed over in milliseconds with its memory (fast), else\n"
		"suspended, reconfigured and resumed (suspend; also the fallback when fast cannot\n"
		"be used).\n"
		"  --server SERVER     hostd: localhost, HOST[:PORT], https://..., unix:/path\n"
		"                      (default $VMX3_SERVER or localhost)\n"
		"  --host HOST         the host to act on, only with a management server\n"
		"  --username NAME     (default $VMX3_USER or root)\n"
		"  --password WORD     (default $VMX3_PASSWORD, else asked without echo)\n"
		"  --vmfile FILE       matches the File column of vmx3-cmd list\n"
		"  --vmname NAME       matches the Name column of vmx3-cmd list\n"
		"  --buildType TYPE    default (vmx), debug (vmx-debug), stats (vmx-stats)\n"
		"  --revertAfter D     switch back to default after D (90s, 15m, 2h, 1d)\n"
		"  --method M          fast (default) or suspend, for a powered-on VM\n"
		"  --verbose           show each phase of the change with its duration\n"
		"  --help\n");
}

struct progress {
	const char *file;
	const char *bt;
	bool reconfig_printed;
};

/* Prints the seed's "Reconfiguring VM ..." line once the task has got there. */
static void on_step(json_t *task, void *arg)
{
	struct progress *p = arg;
	json_t *ph;
	size_t i;

	if (p->reconfig_printed)
		return;
	json_array_foreach(json_object_get(task, "phases"), i, ph) {
		if (!strcmp(json_string_value(json_object_get(ph, "name")) ?: "", "reconfigure")) {
			printf("Reconfiguring VM \"%s\" for vmx build type %s...\n", p->file, p->bt);
			fflush(stdout);
			p->reconfig_printed = true;
		}
	}
}

static int fail(struct cli_conn *c, json_t *reply, const char *what)
{
	fprintf(stderr, PROG ": %s%s\n", what ? what : "", reply ? cli_errmsg(reply) : "");
	json_decref(reply);
	cli_close(c);
	return 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' },   { "host", required_argument, NULL, 'H' },
		{ "username", required_argument, NULL, 'u' }, { "password", required_argument, NULL, 'p' },
		{ "vmfile", required_argument, NULL, 'f' },   { "vmname", required_argument, NULL, 'n' },
		{ "buildType", required_argument, NULL, 'b' }, { "buildtype", required_argument, NULL, 'b' },
		{ "revertAfter", required_argument, NULL, 'r' }, { "verbose", no_argument, NULL, 'v' },
		{ "method", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },           { NULL, 0, NULL, 0 },
	};
	const char *server = NULL, *host = NULL, *user = NULL, *pw = NULL, *vmfile = NULL;
	const char *vmname = NULL, *bt = NULL, *revert = NULL, *method = NULL;
	char path[1400], enc[1100], hostpfx[1200] = "";
	bool verbose = false;
	struct cli_conn *c;
	json_t *reply = NULL, *vm, *task, *ph;
	const char *file, *power;
	int opt, id;
	long st;
	size_t i;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 's': server = optarg; break;
		case 'H': host = optarg; break;
		case 'u': user = optarg; break;
		case 'p': pw = optarg; break;
		case 'f': vmfile = optarg; break;
		case 'n': vmname = optarg; break;
		case 'b': bt = optarg; break;
		case 'r': revert = optarg; break;
		case 'v': verbose = true; break;
		case 'm': method = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, PROG ": unexpected argument '%s' (see --help)\n", argv[optind]);
		return 2;
	}
	if (!vmfile == !vmname) {
		fprintf(stderr, PROG ": give exactly one of --vmfile and --vmname\n");
		return 2;
	}
	if (method && strcmp(method, "fast") != 0 && strcmp(method, "suspend") != 0) {
		fprintf(stderr, PROG ": --method: \"%s\" is not one of fast, suspend\n", method);
		return 2;
	}
	if ((revert || method) && !bt) {
		fprintf(stderr, PROG ": --%s needs --buildType\n", revert ? "revertAfter" : "method");
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
		st = cli_request(c, "GET", "/host", NULL, &reply);
		if (st != 200)
			return fail(c, reply, NULL);
		if (!strcmp(json_string_value(json_object_get(reply, "kind")) ?: "", "hostd")) {
			json_decref(reply);
			fprintf(stderr, PROG ": --host is only meaningful with a management server; "
				"%s is a plain hostd (leave --host out)\n", server ? server : "localhost");
			cli_close(c);
			return 2;
		}
		json_decref(reply);
		/* A management server reaches the host's VMs below /hosts/HOST. */
		cli_urlencode(host, enc, sizeof(enc));
		snprintf(hostpfx, sizeof(hostpfx), "/hosts/%s", enc);
	}

	cli_urlencode(vmfile ? vmfile : vmname, enc, sizeof(enc));
	snprintf(path, sizeof(path), "%s/vms?%s=%s", hostpfx, vmfile ? "file" : "name", enc);
	st = cli_request(c, "GET", path, NULL, &reply);
	if (st != 200)
		return fail(c, reply, NULL);
	if (json_array_size(json_object_get(reply, "vms")) != 1) {
		size_t n = json_array_size(json_object_get(reply, "vms"));
		json_decref(reply);
		if (n == 0)
			fprintf(stderr, PROG ": no VM %s \"%s\" is registered\n",
				vmfile ? "with file" : "named", vmfile ? vmfile : vmname);
		else
			fprintf(stderr, PROG ": %zu VMs are named \"%s\"; use --vmfile\n", n, vmname);
		cli_close(c);
		return 1;
	}
	vm = json_incref(json_array_get(json_object_get(reply, "vms"), 0));
	json_decref(reply);
	id = (int)json_integer_value(json_object_get(vm, "id"));
	file = json_string_value(json_object_get(vm, "file"));
	power = json_string_value(json_object_get(vm, "powerState"));

	if (!bt) {
		json_t *pr = json_object_get(vm, "pendingRevert");
		printf("VM %s uses vmx build type: %s\n", file,
		       cli_jstr(json_object_get(vm, "buildType")));
		if (pr)
			printf("Pending revert to default in %lld s\n",
			       (long long)json_integer_value(json_object_get(pr, "inSeconds")));
		json_decref(vm);
		cli_close(c);
		return 0;
	}

	json_t *body = json_pack("{s:s}", "buildType", bt);
	if (revert)
		json_object_set_new(body, "revertAfter", json_string(revert));
	if (method)
		json_object_set_new(body, "method", json_string(method));
	snprintf(path, sizeof(path), "%s/vms/%d/buildType", hostpfx, id);
	bool running = power && !strcmp(power, "poweredOn");
	struct progress p = { file, bt, false };
	st = cli_request(c, "PUT", path, body, &task);
	json_decref(body);
	if (st != 202) {
		json_decref(vm);
		return fail(c, task, NULL);
	}
	if (running) {
		printf("Suspending VM...\n");
		fflush(stdout);
	}
	task = cli_wait_task(c, task, running ? on_step : NULL, &p);
	if (!running)
		printf("Reconfiguring VM \"%s\" for vmx build type %s...", file, bt);
	else if (!p.reconfig_printed && json_array_size(json_object_get(task, "phases")) > 2)
		on_step(task, &p);
	if (running && p.reconfig_printed)
		printf("Resuming VM...");
	fflush(stdout);
	if (strcmp(json_string_value(json_object_get(task, "state")) ?: "", "success") != 0) {
		const char *err = json_string_value(json_object_get(task, "error"));
		printf("\n");
		fprintf(stderr, PROG ": %s\n", err ? err : cli_errmsg(task));
		json_decref(task);
		json_decref(vm);
		cli_close(c);
		return 1;
	}
	printf(" done.\n");
	if (verbose) {
		json_t *res = json_object_get(task, "result");
		const char *m = json_string_value(json_object_get(res, "method"));
		const char *fb = json_string_value(json_object_get(res, "fallbackReason"));
		if (m)
			printf("  method       %s%s\n", m, fb ? " (fast was not possible)" : "");
		if (fb)
			printf("  fallback     %s\n", fb);
		json_array_foreach(json_object_get(task, "phases"), i, ph)
			printf("  %-12s %10.3f ms\n", cli_jstr(json_object_get(ph, "name")),
			       json_number_value(json_object_get(ph, "ms")));
		if (json_object_get(res, "downtimeMs"))
			printf("  downtime     %10.3f ms, new pid %lld\n",
			       json_number_value(json_object_get(res, "downtimeMs")),
			       (long long)json_integer_value(json_object_get(res, "pid")));
	}
	json_decref(task);
	json_decref(vm);
	cli_close(c);
	return 0;
}
