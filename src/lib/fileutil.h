/*
 * fileutil.h - small file helpers shared by vmx, hostd and the tools.
 */
#ifndef VMX_LIB_FILEUTIL_H
#define VMX_LIB_FILEUTIL_H

#include <stddef.h>
#include <sys/types.h>
#include "verr.h"

/*
 * Replaces path with buf atomically: temporary file in the same directory,
 * write, fsync, rename over path, fsync of the directory.  A crash at any
 * moment leaves either the old or the new file whole.  The file keeps the
 * mode of the file it replaces (or gets `mode` when new).
 */
int file_write_atomic(const char *path, const void *buf, size_t len, mode_t mode, struct verr *e);

/* File types file_open_typed() may accept. */
#define FILE_T_REG 1u
#define FILE_T_BLK 2u
#define FILE_T_CHR 4u

/*
 * Opens a file that a configuration key or an argument names without ever
 * blocking in open(): O_NONBLOCK for the open itself (a FIFO would otherwise
 * wait for its other end forever, a tty could become the controlling
 * terminal), then the type is checked against `allowed` (FILE_T_*) and
 * O_NONBLOCK is cleared again.  Returns the fd, or -errno with a message
 * "PATH: REASON" in e; a refused type is -EINVAL naming what was found
 * ("not a regular file (it is a FIFO)").
 */
int file_open_typed(const char *path, int flags, mode_t mode, unsigned allowed, struct verr *e);

/*
 * Registers fd (inherited from the parent, usually an O_PATH descriptor) as
 * the file at absolute path: file_open_typed(path) then opens the file
 * through the descriptor, so a process that cannot search the directories
 * above it (hostd's unprivileged vmx user and a tree under /root) still opens
 * it, with the file's own permissions checked.  Call before threads start.
 * -EINVAL for a relative path, -EBADF for a closed fd, -ENOSPC past 32.
 */
int file_pass_add(const char *path, int fd);
/* The descriptor passed for path itself (a device to use as opened), or -ENOENT. */
int file_pass_fd(const char *path);
/* "a FIFO", "a directory", ... for messages. */
const char *file_type_name(mode_t mode);

/* Reads a whole regular file (up to max bytes) into a malloc'd NUL-terminated buffer. */
int file_read_all(const char *path, size_t max, char **buf, size_t *len, struct verr *e);

/* fsyncs the directory that holds path (after a rename or create). */
int file_sync_dir(const char *path);

/* Directory part of path into out ("." when none). */
void file_dirname(const char *path, char *out, size_t len);

#endif
