/*
 * fuzz_api.c - libFuzzer target for hostd's HTTP API: one request per input
 * goes through the real request handler of src/hostd/api.c (prefix check,
 * routing, body size limit, JSON body parsing, Authorization header, role
 * checks and every route's handler) against a real state directory, SQLite
 * database, users and sessions, and a datastore with a VM in it.
 *
 * api.c is compiled in, and libmicrohttpd is replaced by the handful of MHD
 * functions it calls, working on the connection this file defines: the
 * handler is driven exactly as MHD drives it (first call, body chunks, final
 * call, completion), without sockets, and with no change to api.c.
 *
 * Input: "METHOD URL[?query]\n" then "Name: value\n" headers, a blank line,
 * then the body (fed in chunks whose size the first header byte picks).
 * "Authorization: Bearer @admin" or "@ro" is replaced by a live token of an
 * admin or read-only user, so the fuzzer reaches the handlers behind login.
 * No vmx binary exists (hostd.vmxDir is a missing directory), so power
 * operations fail inside their tasks instead of starting VMs.
 *
 * Properties: every request gets exactly one response, with a status in
 * 200..599 and a JSON object body, or, for the Prometheus routes, a 200 with
 * the exposition's Content-Type and lines that are comments or samples; an
 * error status carries error.code and error.message strings.  Outside the
 * API: a 302 to /ui/ with no body, a 304 with an ETag and no body, and the
 * web interface's files (200, or 404 text) with its Content-Security-Policy.
 *
 * Password hashing (argon2id, about 64 MiB and a large fraction of a second
 * per call) is replaced by a cheap stand-in, and usleep by a yield, when
 * auth.c is compiled for this target (mk/tests.mk), or the fuzzer would spend
 * its time hashing and sleeping.
 */
#include <microhttpd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ftw.h>
#include <sys/stat.h>
#include <sched.h>
#include <sodium.h>
#include <unistd.h>

/*
 * Sleeps in the code under test (a failed login waits up to 8 s by design;
 * waiting for a task polls every 20 ms) only yield here: they are delays,
 * not behaviour the fuzzer can find anything in, and they would cap it at a
 * few executions a second.
 */
int fuzz_usleep(useconds_t us)
{
	(void)us;
	sched_yield();
	return 0;
}
#define usleep fuzz_usleep
#include "../src/hostd/api.c"
#undef usleep

#define MAX_HDRS 16
#define MAX_ARGS 16

struct MHD_Connection {
	const char *hk[MAX_HDRS], *hv[MAX_HDRS];
	unsigned nh;
	const char *ak[MAX_ARGS], *av[MAX_ARGS];
	unsigned na;
	int responses;
	unsigned status;
	char *body;
	size_t body_len;
	bool text; /* the Prometheus exposition */
	bool json, csp, etag, location_ui;
};

struct MHD_Response {
	char *buf;
	size_t len;
	bool text, json, csp, etag, location_ui;
};

const char *MHD_lookup_connection_value(struct MHD_Connection *c, enum MHD_ValueKind kind,
					const char *key)
{
	if (kind == MHD_HEADER_KIND) {
		for (unsigned i = 0; i < c->nh; i++)
			if (!strcasecmp(c->hk[i], key))
				return c->hv[i];
	} else if (kind == MHD_GET_ARGUMENT_KIND) {
		for (unsigned i = 0; i < c->na; i++)
			if (key && !strcmp(c->ak[i], key))
				return c->av[i];
	}
	return NULL;
}

/* api.c sums the request headers' sizes with it (hostd refuses headers over 32 KiB). */
int MHD_get_connection_values(struct MHD_Connection *c, enum MHD_ValueKind kind,
			      MHD_KeyValueIterator it, void *cls)
{
	int n = 0;

	if (!(kind & MHD_HEADER_KIND))
		return 0;
	for (unsigned i = 0; i < c->nh; i++) {
		n++;
		if (it && it(cls, MHD_HEADER_KIND, c->hk[i], c->hv[i]) != MHD_YES)
			break;
	}
	return n;
}

struct MHD_Response *MHD_create_response_from_buffer(size_t size, void *buffer,
						     enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = calloc(1, sizeof(*r));
	if (!r)
		abort();
	r->buf = malloc(size + 1);
	memcpy(r->buf, buffer, size);
	r->buf[size] = 0;
	r->len = size;
	if (mode == MHD_RESPMEM_MUST_FREE)
		free(buffer);
	return r;
}

enum MHD_Result MHD_add_response_header(struct MHD_Response *r, const char *h, const char *v)
{
	if (!strcasecmp(h, "Content-Type")) {
		r->text = !strncmp(v, "text/plain; version=0.0.4", 25);
		r->json = !strcmp(v, "application/json");
	}
	if (!strcasecmp(h, "Content-Security-Policy"))
		r->csp = strstr(v, "frame-ancestors 'none'") && !strstr(v, "unsafe-inline");
	if (!strcasecmp(h, "ETag"))
		r->etag = v[0] == '"';
	if (!strcasecmp(h, "Location"))
		r->location_ui = !strcmp(v, "/ui/");
	return MHD_YES;
}

enum MHD_Result MHD_queue_response(struct MHD_Connection *c, unsigned int status,
				   struct MHD_Response *r)
{
	c->responses++;
	c->status = status;
	c->text = r->text;
	c->json = r->json;
	c->csp = r->csp;
	c->etag = r->etag;
	c->location_ui = r->location_ui;
	free(c->body);
	c->body = malloc(r->len + 1);
	memcpy(c->body, r->buf, r->len + 1);
	c->body_len = r->len;
	return MHD_YES;
}

void MHD_destroy_response(struct MHD_Response *r)
{
	free(r->buf);
	free(r);
}

struct MHD_Daemon *MHD_start_daemon(unsigned int flags, uint16_t port, MHD_AcceptPolicyCallback apc,
				    void *apc_cls, MHD_AccessHandlerCallback dh, void *dh_cls, ...)
{
	return NULL;
}

void MHD_stop_daemon(struct MHD_Daemon *d) {}

/* Cheap stand-ins for argon2id (see above); "$fuzz$" + the password is the "hash". */
int fuzz_pwhash_str_alg(char out[crypto_pwhash_STRBYTES], const char *const passwd,
			unsigned long long passwdlen, unsigned long long opslimit, size_t memlimit,
			int alg)
{
	snprintf(out, crypto_pwhash_STRBYTES, "$fuzz$%.*s", (int)(passwdlen > 64 ? 64 : passwdlen),
		 passwd);
	return 0;
}

int fuzz_pwhash_str_verify(const char *str, const char *const passwd,
			   unsigned long long passwdlen)
{
	char h[crypto_pwhash_STRBYTES];
	fuzz_pwhash_str_alg(h, passwd, passwdlen, 0, 0, 0);
	return strcmp(h, str) == 0 ? 0 : -1;
}

static char tok_admin[65], tok_ro[65];
static char g_dir[64];

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	remove(path);
	return 0;
}

/* libFuzzer ends with exit(): the state directory goes with it. */
static void remove_state(void)
{
	db_close();
	if (g_dir[0])
		nftw(g_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup(void)
{
	char tmpl[] = "/tmp/fuzz_api.XXXXXX", path[PATH_MAX];
	struct verr e = { "" };
	enum role r;
	unsigned retry;
	char *dir = mkdtemp(tmpl);
	FILE *f;

	if (!dir)
		abort();
	snprintf(g_dir, sizeof(g_dir), "%s", dir);
	atexit(remove_state);
	struct hostd_cfg *c = &g_hostd.cfg;
	snprintf(c->state_dir, sizeof(c->state_dir), "%s/state", dir);
	mkdir(c->state_dir, 0750);
	snprintf(path, sizeof(path), "%s/crash", c->state_dir);
	mkdir(path, 0750);
	snprintf(c->vmx_dir, sizeof(c->vmx_dir), "%s/no-vmx-here", dir);
	snprintf(c->self_dir, sizeof(c->self_dir), "%s", c->vmx_dir);
	c->mem_capacity_mb = 4096;
	c->shutdown_timeout_s = 1;
	c->launch_timeout_s = 1;
	snprintf(path, sizeof(path), "%s/ds1", dir);
	mkdir(path, 0755);
	if (ds_add(c, "ds1", path, &e) < 0)
		abort();
	snprintf(path, sizeof(path), "%s/ds1/vm1", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/ds1/vm1/vm1.vmx", dir);
	f = fopen(path, "w");
	if (!f)
		abort();
	fputs("memSize = \"64\"\ndisplayName = \"vm1\"\nguest.elf = \"none.elf\"\n", f);
	fclose(f);
	log_level_cur = LOG_ERROR;
	if (auth_init() < 0)
		abort();
	snprintf(path, sizeof(path), "%s/hostd.db", c->state_dir);
	if (db_open(path, &e) < 0 || hvm_restore(&e) < 0)
		abort();
	/* Durability is not under test here; an fsync per request would be most of the time. */
	db_exec("PRAGMA synchronous=OFF", 0, NULL);
	if (auth_user_add("fuzzadmin", "pw-admin", ROLE_ADMIN, &e) < 0 ||
	    auth_user_add("fuzzro", "pw-ro", ROLE_READONLY, &e) < 0 ||
	    auth_login("fuzzadmin", "pw-admin", tok_admin, &r, &retry) < 0 ||
	    auth_login("fuzzro", "pw-ro", tok_ro, &r, &retry) < 0)
		abort();
	hvm_register("[ds1] vm1/vm1.vmx", "vm1", "fuzzadmin", &e);
}

/* Splits "k=v&k2=v2" in place (no %-decoding: MHD's would only change the bytes). */
static void parse_query(struct MHD_Connection *c, char *q)
{
	while (q && *q && c->na < MAX_ARGS) {
		char *amp = strchr(q, '&'), *eq;
		if (amp)
			*amp = 0;
		eq = strchr(q, '=');
		if (eq)
			*eq = 0;
		c->ak[c->na] = q;
		c->av[c->na++] = eq ? eq + 1 : "";
		q = amp ? amp + 1 : NULL;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool init;
	static char auth_admin[80], auth_ro[80];
	struct MHD_Connection c = { 0 };
	void *con_cls = NULL;
	size_t zero = 0, chunk;
	char *in, *p, *nl, *method, *url, *q, *body;
	size_t body_len;

	if (!init) {
		setup();
		snprintf(auth_admin, sizeof(auth_admin), "Bearer %s", tok_admin);
		snprintf(auth_ro, sizeof(auth_ro), "Bearer %s", tok_ro);
		init = true;
	}
	if (size < 1 || size > (API_MAX_BODY + 4096))
		return 0;
	chunk = 1 + (data[0] % 64) * 97;
	in = malloc(size);
	memcpy(in, data + 1, size - 1);
	in[size - 1] = 0;
	/* Request line. */
	nl = memchr(in, '\n', size - 1);
	if (!nl || memchr(in, 0, (size_t)(nl - in))) {
		free(in);
		return 0;
	}
	*nl = 0;
	method = in;
	url = strchr(in, ' ');
	if (!url) {
		free(in);
		return 0;
	}
	*url++ = 0;
	q = strchr(url, '?');
	if (q)
		*q++ = 0;
	parse_query(&c, q);
	/* Headers up to a blank line. */
	p = nl + 1;
	while ((size_t)(p - in) < size - 1) {
		char *end = memchr(p, '\n', size - 1 - (size_t)(p - in)), *colon;
		if (!end)
			break;
		*end = 0;
		if (p == end) {
			p = end + 1;
			break;
		}
		colon = strchr(p, ':');
		if (colon && c.nh < MAX_HDRS) {
			*colon = 0;
			c.hk[c.nh] = p;
			c.hv[c.nh] = colon[1] == ' ' ? colon + 2 : colon + 1;
			if (!strcmp(c.hv[c.nh], "Bearer @admin"))
				c.hv[c.nh] = auth_admin;
			else if (!strcmp(c.hv[c.nh], "Bearer @ro"))
				c.hv[c.nh] = auth_ro;
			c.nh++;
		}
		p = end + 1;
	}
	body = p;
	body_len = (size_t)(p - in) < size - 1 ? size - 1 - (size_t)(p - in) : 0;

	/* As MHD calls it: headers, each body chunk, then the end of the request. */
	if (handle(NULL, &c, url, method, "HTTP/1.1", NULL, &zero, &con_cls) != MHD_YES || !con_cls)
		abort();
	for (size_t off = 0; off < body_len && c.responses == 0;) {
		size_t n = body_len - off < chunk ? body_len - off : chunk, left = n;
		if (handle(NULL, &c, url, method, "HTTP/1.1", body + off, &left, &con_cls) != MHD_YES)
			abort();
		if (left != 0)
			abort();   /* the handler must take every byte it is given */
		off += n;
	}
	if (c.responses == 0 &&
	    handle(NULL, &c, url, method, "HTTP/1.1", NULL, &zero, &con_cls) != MHD_YES)
		abort();
	completed(NULL, &c, &con_cls, MHD_REQUEST_TERMINATED_COMPLETED_OK);

	if (c.responses != 1 || c.status < 200 || c.status > 599)
		abort();
	if (c.status == 302 || c.status == 304 || (!c.json && !c.text)) {
		/* A redirect, a not-modified, or a file of the web interface. */
		if ((c.status == 302 && (!c.location_ui || c.body_len)) ||
		    (c.status == 304 && (!c.etag || c.body_len)) ||
		    (c.status != 302 && c.status != 304 &&
		     ((c.status != 200 && c.status != 404) || !c.csp || !c.body_len ||
		      strncmp(url, "/ui/", 4))))
			abort();
		free(c.body);
		free(in);
		return 0;
	}
	if (c.text) {
		/* Prometheus text: only on success, and every line a comment or "name[{...}] value". */
		if (c.status != 200 || !c.body_len || c.body[c.body_len - 1] != '\n' ||
		    strlen(c.body) != c.body_len)
			abort();
		for (char *l = c.body; *l; l = strchr(l, '\n') + 1)
			if (*l != '#' && (!strchr(l, ' ') || strchr(l, ' ') > strchr(l, '\n') ||
					  !strchr("abcdefghijklmnopqrstuvwxyz_", *l)))
				abort();
		free(c.body);
		free(in);
		return 0;
	}
	json_error_t jerr;
	json_t *resp = json_loadb(c.body, c.body_len, 0, &jerr);
	if (!resp || !json_is_object(resp))
		abort();
	if (c.status >= 400) {
		json_t *err = json_object_get(resp, "error");
		if (!json_is_string(json_object_get(err, "code")) ||
		    !json_is_string(json_object_get(err, "message")))
			abort();
	}
	json_decref(resp);
	free(c.body);
	free(in);
	return 0;
}
