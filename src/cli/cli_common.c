/*
 * cli_common.c - libcurl client of hostd's API for the command-line tools.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include "cli_common.h"

#define CLI_DEFAULT_PORT 8307

struct cli_conn {
	CURL *curl;
	char base[512];
	char unix_path[512];
	char auth[128];
	const char *prog;
};

struct buf {
	char *p;
	size_t len;
};

static size_t on_data(char *ptr, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;
	char *np = realloc(b->p, b->len + size * n + 1);
	if (!np)
		return 0;
	b->p = np;
	memcpy(b->p + b->len, ptr, size * n);
	b->len += size * n;
	b->p[b->len] = 0;
	return size * n;
}

struct cli_conn *cli_connect(const char *prog, const char *server)
{
	struct cli_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->prog = prog;
	if (!server || !*server)
		server = getenv("VMX3_SERVER") ? getenv("VMX3_SERVER") : "localhost";
	if (!strncmp(server, "unix:", 5)) {
		snprintf(c->unix_path, sizeof(c->unix_path), "%s", server + 5);
		snprintf(c->base, sizeof(c->base), "http://localhost");
	} else if (!strncmp(server, "http://", 7) || !strncmp(server, "https://", 8)) {
		snprintf(c->base, sizeof(c->base), "%s", server);
	} else if (strchr(server, ':')) {
		snprintf(c->base, sizeof(c->base), "http://%s", server);
	} else {
		snprintf(c->base, sizeof(c->base), "http://%s:%d",
			 strcmp(server, "localhost") ? server : "127.0.0.1", CLI_DEFAULT_PORT);
	}
	c->curl = curl_easy_init();
	if (!c->curl) {
		fprintf(stderr, "%s: cannot initialise libcurl\n", prog);
		free(c);
		return NULL;
	}
	return c;
}

void cli_close(struct cli_conn *c)
{
	if (!c)
		return;
	if (c->auth[0]) {
		json_t *r = NULL;
		cli_request(c, "DELETE", "/session", NULL, &r);
		json_decref(r);
	}
	curl_easy_cleanup(c->curl);
	free(c);
}

long cli_request(struct cli_conn *c, const char *method, const char *path, json_t *body,
		 json_t **reply)
{
	char url[2048], *text = NULL, cerr[CURL_ERROR_SIZE] = "";
	struct curl_slist *h = NULL;
	struct buf b = { NULL, 0 };
	long status = -1;
	CURLcode rc;

	snprintf(url, sizeof(url), "%s/api/v1%s", c->base, path);
	curl_easy_reset(c->curl);
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, 900L);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	if (c->unix_path[0])
		curl_easy_setopt(c->curl, CURLOPT_UNIX_SOCKET_PATH, c->unix_path);
	if (getenv("VMX3_CA_CERT"))
		curl_easy_setopt(c->curl, CURLOPT_CAINFO, getenv("VMX3_CA_CERT"));
	h = curl_slist_append(h, "Content-Type: application/json");
	if (c->auth[0])
		h = curl_slist_append(h, c->auth);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, h);
	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, text);
	}
	rc = curl_easy_perform(c->curl);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
		*reply = b.p ? json_loads(b.p, 0, NULL) : NULL;
		/* A successful non-JSON reply (Prometheus text) is handed over as {"text"}. */
		if (!*reply && b.p && status >= 200 && status < 300)
			*reply = json_pack("{s:s}", "text", b.p);
		if (!*reply)
			*reply = json_pack("{s:{s:s}}", "error", "message", "the server's reply is not JSON");
	} else {
		char msg[1200];
		if (c->unix_path[0])
			snprintf(msg, sizeof(msg), "cannot reach hostd at unix:%s (is hostd running?)",
				 c->unix_path);
		else
			snprintf(msg, sizeof(msg), "cannot reach hostd at %s: %s", c->base,
				 cerr[0] ? cerr : curl_easy_strerror(rc));
		*reply = json_pack("{s:{s:s}}", "error", "message", msg);
	}
	curl_slist_free_all(h);
	free(text);
	free(b.p);
	return status;
}

const char *cli_errmsg(json_t *reply)
{
	const char *m = json_string_value(json_object_get(json_object_get(reply, "error"), "message"));
	if (!m)
		m = json_string_value(json_object_get(reply, "error"));
	return m ? cli_esc(m) : "unexpected reply from hostd";
}

static int prompt_password(char *buf, size_t len)
{
	struct termios old, quiet;
	bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
	size_t n;

	fprintf(stderr, "Password: ");
	if (tty) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	char *r = fgets(buf, (int)len, stdin);
	if (tty)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	fprintf(stderr, "\n");
	if (!r)
		return -EIO;
	n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = 0;
	return 0;
}

int cli_login(struct cli_conn *c, const char *user, const char *password)
{
	char pw[256];
	json_t *reply = NULL;
	long st;

	if (!user)
		user = getenv("VMX3_USER") ? getenv("VMX3_USER") : "root";
	if (!password)
		password = getenv("VMX3_PASSWORD");
	if (!password) {
		if (prompt_password(pw, sizeof(pw)) < 0) {
			fprintf(stderr, "%s: no password given\n", c->prog);
			return -1;
		}
		password = pw;
	}
	json_t *body = json_pack("{s:s, s:s}", "username", user, "password", password);
	st = cli_request(c, "POST", "/session", body, &reply);
	json_decref(body);
	if (st < 0) {
		fprintf(stderr, "%s: %s\n", c->prog, cli_errmsg(reply));
		json_decref(reply);
		return -1;
	}
	if (st != 200) {
		fprintf(stderr, "%s: login as %s failed: %s\n", c->prog, user, cli_errmsg(reply));
		json_decref(reply);
		return -1;
	}
	snprintf(c->auth, sizeof(c->auth), "Authorization: Bearer %s",
		 json_string_value(json_object_get(reply, "token")));
	json_decref(reply);
	return 0;
}

json_t *cli_wait_task(struct cli_conn *c, json_t *task, void (*step)(json_t *task, void *arg),
		      void *arg)
{
	char path[64];
	int id = (int)json_integer_value(json_object_get(task, "id"));

	snprintf(path, sizeof(path), "/tasks/%d", id);
	for (;;) {
		const char *st = json_string_value(json_object_get(task, "state"));
		if (step)
			step(task, arg);
		if (!st || strcmp(st, "running") != 0)
			return task;
		usleep(50 * 1000);
		json_decref(task);
		task = NULL;
		if (cli_request(c, "GET", path, NULL, &task) != 200)
			return task;
	}
}

void cli_urlencode(const char *s, char *out, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s && o + 4 < len; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '_' || ch == '.' || ch == '~') {
			out[o++] = (char)ch;
		} else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o] = 0;
}

const char *cli_esc(const char *s)
{
	static __thread char bufs[8][1024];
	static __thread unsigned next;
	char *out;
	size_t o = 0;

	if (!s)
		return NULL;
	out = bufs[next++ % 8];
	for (const unsigned char *p = (const unsigned char *)s; *p && o + 5 < sizeof(bufs[0]); p++) {
		bool c1 = p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f;
		if (*p < 0x20 || *p == 0x7f || c1) {
			if (c1)
				p++;
			o += (size_t)snprintf(out + o, sizeof(bufs[0]) - o, "\\x%02x", *p);
		} else {
			out[o++] = (char)*p;
		}
	}
	out[o] = 0;
	return out;
}

const char *cli_jstr(const json_t *j)
{
	return cli_esc(json_string_value(j));
}
