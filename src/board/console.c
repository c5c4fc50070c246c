/*
 * console.c - the guest console on the host terminal.
 *
 * With serial0.fileName unset, guest output goes to stdout and, when stdin
 * is a terminal, the terminal is put in raw mode so every key reaches the
 * guest; Ctrl-A x stops the VM (Ctrl-A Ctrl-A sends one Ctrl-A).  The
 * terminal's settings are restored on every exit path: vm_destroy, exit()
 * (atexit), a panic (crash cleanup) and the fatal signals, whose handlers
 * restore and re-raise.
 * A non-terminal stdin (a pipe) is read as it is; EOF ends input.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "board_int.h"
#include "../lib/crash.h"
#include "../lib/log.h"

#define CTRL_A 0x01

static struct termios g_saved;
static volatile sig_atomic_t g_raw;

static void restore_tty(void)
{
	if (g_raw) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &g_saved);
		g_raw = 0;
	}
}

static void on_fatal(int sig)
{
	restore_tty();   /* tcsetattr is async-signal-safe */
	signal(sig, SIG_DFL);
	raise(sig);
}

static void install_fatal_handlers(void)
{
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGQUIT };
	static bool done;
	if (done)
		return;
	done = true;
	atexit(restore_tty);
	crash_add_cleanup(restore_tty);   /* a panic ends with _exit, which skips atexit */
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		struct sigaction old, sa = { .sa_handler = on_fatal, .sa_flags = SA_RESETHAND };
		sigemptyset(&sa.sa_mask);
		/* Leave handlers that others (crash reporting) installed alone. */
		if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_DFL)
			sigaction(sigs[i], &sa, NULL);
	}
}

int console_open(struct vm_console *con, const struct vm_config *vc, struct verr *e)
{
	memset(con, 0, sizeof(*con));
	con->in_fd = -1;
	if (vc->serial_file[0])
		return 0;   /* output to the file, no input */
	con->in_fd = STDIN_FILENO;
	if (!isatty(STDIN_FILENO))
		return 0;
	/*
	 * Started in the background of a shell: changing the terminal would stop
	 * us with SIGTTOU, and the keys belong to the foreground job anyway.
	 */
	if (tcgetpgrp(STDIN_FILENO) != getpgrp()) {
		con->in_fd = -1;
		return 0;
	}
	if (tcgetattr(STDIN_FILENO, &con->saved) < 0)
		return verr_set(e, -errno, "console: tcgetattr: %s", strerror(errno));
	struct termios raw = con->saved;
	cfmakeraw(&raw);
	g_saved = con->saved;
	install_fatal_handlers();
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) < 0)
		return verr_set(e, -errno, "console: cannot set raw mode: %s", strerror(errno));
	g_raw = 1;
	con->raw = true;
	return 0;
}

void console_close(struct vm_console *con)
{
	if (con->raw) {
		restore_tty();
		con->raw = false;
	}
	con->in_fd = -1;
}

bool console_wants_input(const struct vm_console *con)
{
	return con->in_fd >= 0 && con->pend_len < sizeof(con->pend);
}

void console_read(struct vm *vm)
{
	struct vm_console *con = &vm->con;
	struct pollfd p = { .fd = con->in_fd, .events = POLLIN };
	uint8_t in[256];

	if (!console_wants_input(con))
		return;
	size_t room = sizeof(con->pend) - con->pend_len;
	if (room > sizeof(in))
		room = sizeof(in);
	if (poll(&p, 1, 0) <= 0 || !(p.revents & (POLLIN | POLLHUP | POLLERR)))
		return;
	ssize_t n = read(con->in_fd, in, room);
	if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
		con->in_fd = -1;   /* end of input: the guest just sees silence */
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		uint8_t c = in[i];
		if (con->raw && con->escape) {
			con->escape = false;
			if (c == 'x' || c == 'X') {
				LOG_INF("console: Ctrl-A x, stopping the VM");
				vm_request_stop(vm);
				continue;
			}
			if (c != CTRL_A)
				continue;
		} else if (con->raw && c == CTRL_A) {
			con->escape = true;
			continue;
		}
		con->pend[con->pend_len++] = c;
	}
}
