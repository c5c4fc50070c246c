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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

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
	char *line, buf[65536];
	size_t len = 0;
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
	while (len < sizeof(buf) - 1) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		if (memchr(buf, '\n', len))
			break;
	}
	close(fd);
	buf[len] = 0;
	reply = json_loads(buf, JSON_DISABLE_EOF_CHECK, &jerr);
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
