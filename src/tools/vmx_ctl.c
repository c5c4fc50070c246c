/*
 * vmx_ctl.c - vmx-ctl: send one command to a running vmx's control socket
 * and print the reply.
 *
 *   vmx-ctl VMDIR|SOCKET COMMAND [JSON-OBJECT-WITH-ARGUMENTS]
 *
 * Exit status 0 when the reply says ok, 1 when vmx refused the command,
 * 2 for usage errors and 3 when the socket cannot be reached.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CTL_REPLY_MAX (256 << 20)  /* a bound, so a runaway peer cannot exhaust memory */

static int connect_to(const char *target)
{
	char path[4200];
	struct stat st;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, dfd = -1;

	if (stat(target, &st) == 0 && S_ISDIR(st.st_mode))
		snprintf(path, sizeof(path), "%s/vmx.ctl", target);
	else
		snprintf(path, sizeof(path), "%s", target);
	if (strlen(path) < sizeof(sa.sun_path)) {
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	} else {
		/* Long path: reach it through a directory fd, as vmx binds it. */
		char dir[4200];
		const char *slash = strrchr(path, '/');
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
		dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			return -errno;
		snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dfd, slash + 1);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int rc = -errno;
		if (fd >= 0)
			close(fd);
		if (dfd >= 0)
			close(dfd);
		return rc;
	}
	if (dfd >= 0)
		close(dfd);
	return fd;
}

int main(int argc, char **argv)
{
	json_error_t jerr;
	json_t *req, *reply;
	char *line, *buf = NULL;
	size_t len = 0, cap = 0;
	bool whole = false;
	int fd;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: vmx-ctl VMDIR|SOCKET COMMAND [JSON-ARGS]\n");
		return 2;
	}
	req = argc == 4 ? json_loads(argv[3], 0, &jerr) : json_object();
	if (!req || !json_is_object(req)) {
		fprintf(stderr, "vmx-ctl: arguments must be a JSON object: %s\n",
			req ? "not an object" : jerr.text);
		return 2;
	}
	json_object_set_new(req, "v", json_integer(1));
	json_object_set_new(req, "cmd", json_string(argv[2]));
	fd = connect_to(argv[1]);
	if (fd < 0) {
		fprintf(stderr, "vmx-ctl: cannot reach the control socket of %s: %s\n", argv[1],
			strerror(-fd));
		return 3;
	}
	line = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!line)
		return 3;
	/*
	 * A vmx that refuses the connection (too many clients) says why and closes
	 * at once: a failed send is reported only when no reply can be read.
	 */
	signal(SIGPIPE, SIG_IGN);
	int send_err = dprintf(fd, "%s\n", line) < 0 ? errno : 0;
	free(line);
	/* One line, however long (a stats reply of a large VM runs to megabytes). */
	while (!whole) {
		if (cap - len < 65536) {
			if (cap >= CTL_REPLY_MAX) {
				fprintf(stderr, "vmx-ctl: the reply is longer than %d MiB\n",
					CTL_REPLY_MAX >> 20);
				free(buf);
				close(fd);
				return 3;
			}
			cap = cap ? cap * 2 : 262144;
			char *nb = realloc(buf, cap + 1);
			if (!nb) {
				fprintf(stderr, "vmx-ctl: out of memory\n");
				free(buf);
				close(fd);
				return 3;
			}
			buf = nb;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		whole = memchr(buf + len, '\n', (size_t)n) != NULL;
		len += (size_t)n;
	}
	close(fd);
	if (!buf)
		buf = calloc(1, 1);
	else
		buf[len] = 0;
	reply = buf ? json_loads(buf, JSON_DISABLE_EOF_CHECK, &jerr) : NULL;
	free(buf);
	if (!reply) {
		if (send_err)
			fprintf(stderr, "vmx-ctl: send failed: %s\n", strerror(send_err));
		else
			fprintf(stderr, "vmx-ctl: no valid reply from vmx\n");
		return 3;
	}
	line = json_dumps(reply, JSON_INDENT(2) | JSON_SORT_KEYS);
	printf("%s\n", line);
	free(line);
	int ok = json_is_true(json_object_get(reply, "ok"));
	json_decref(reply);
	return ok ? 0 : 1;
}
