/*
 * cli_common.h - what vmx-buildtype and vmx3-cmd share: reaching hostd's API
 * (TCP, TLS or a Unix socket) with libcurl, logging in, and following tasks.
 */
#ifndef VMX_CLI_CLI_COMMON_H
#define VMX_CLI_CLI_COMMON_H

#include <jansson.h>
#include <stdbool.h>

struct cli_conn;

/*
 * server: "localhost", "HOST[:PORT]", "http://...", "https://..." or
 * "unix:/path/hostd.sock".  Returns NULL after printing a message.
 */
struct cli_conn *cli_connect(const char *prog, const char *server);
void cli_close(struct cli_conn *c);
/* Logs in; password NULL = $VMX3_PASSWORD, else a prompt without echo. */
int cli_login(struct cli_conn *c, const char *user, const char *password);
/*
 * One request; returns the HTTP status (or -1 when unreachable, message in
 * *reply).  A successful reply that is not JSON (Prometheus text) comes as {"text"}.
 */
long cli_request(struct cli_conn *c, const char *method, const char *path, json_t *body,
		 json_t **reply);
/* The message of an error reply ("error.message"), or a fallback. */
const char *cli_errmsg(json_t *reply);
/*
 * Text from hostd made safe for a terminal: control characters (a newline, an
 * ANSI escape) become \xNN.  Returns one of a few rotating static buffers, so
 * several may appear in one printf; NULL gives NULL (printed as "(null)" by
 * nobody: callers pass it where they passed the raw string).
 */
const char *cli_esc(const char *s);
/* cli_esc of a JSON string (NULL when not a string). */
const char *cli_jstr(const json_t *j);
/* Polls a task until it ends; calls step (may be NULL) on each new state. */
json_t *cli_wait_task(struct cli_conn *c, json_t *task, void (*step)(json_t *task, void *arg),
		      void *arg);
/* "%"-escapes s for a query string into out. */
void cli_urlencode(const char *s, char *out, size_t len);

#endif
