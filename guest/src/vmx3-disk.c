/*
 * vmx3-disk.c - disk workload for the default guest.
 *
 * The default disk image (guest/build-disk.sh) holds an ext4 file system in
 * its first DISK_FS_MIB MiB and leaves a raw area after it, so one disk
 * serves both tests:
 *   raw   : writes a pattern to the raw area of the block device with
 *           O_DIRECT, fsyncs, reads it back with O_DIRECT and compares;
 *   fs    : mounts the ext4 file system, writes a pattern file, fsyncs,
 *           unmounts, mounts again, reads the file back and compares; the
 *           file stays for a later `check`;
 *   check : verifies the pattern file left by an earlier `fs` run (also
 *           across a reboot or a restored checkpoint).
 * Each prints one line "VMX3 bench disk <mode> ... ok" or "... FAIL <why>"
 * and exits 0 only on success.  The pattern depends on the block number and
 * a seed stored in the first block, so misplaced or stale blocks are caught.
 *
 * Usage: vmx3-disk raw|fs|check [DEVICE] [MOUNTPOINT]
 */
#define _GNU_SOURCE /* O_DIRECT */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DISK_FS_MIB 32          /* must match guest/build-disk.sh */
#define DISK_RAW_OFFSET ((uint64_t)48 << 20)
#define DISK_RAW_BYTES ((uint64_t)8 << 20)
#define DISK_FILE_BYTES ((uint64_t)4 << 20)
#define DISK_BLOCK 4096
#define DISK_FILE_NAME "vmx3-pattern.bin"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Fills one block: words derived from (seed, block, word) by splitmix64. */
static void fill_block(uint64_t *w, uint64_t seed, uint64_t blk)
{
	for (size_t i = 0; i < DISK_BLOCK / 8; i++) {
		uint64_t z = seed + blk * 0x100000001b3ULL + i * 0x9e3779b97f4a7c15ULL;

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		w[i] = z ^ (z >> 31);
	}
	if (blk == 0) {
		w[0] = 0x564d58335041544eULL; /* "VMX3PATN" */
		w[1] = seed;
	}
}

static int fail(const char *mode, const char *why, int err)
{
	printf("VMX3 bench disk %s FAIL %s%s%s\n", mode, why, err ? ": " : "",
	       err ? strerror(err) : "");
	return 1;
}

/* Writes nblocks pattern blocks at off; returns 0 or an errno. */
static int write_pattern(int fd, uint64_t off, uint64_t nblocks, uint64_t seed, uint64_t *buf)
{
	for (uint64_t b = 0; b < nblocks; b++) {
		fill_block(buf, seed, b);
		if (pwrite(fd, buf, DISK_BLOCK, (off_t)(off + b * DISK_BLOCK)) != DISK_BLOCK)
			return errno ? errno : EIO;
	}
	return fsync(fd) ? errno : 0;
}

/* Reads and compares; returns 0, an errno, or -1 for a mismatch (*bad = block). */
static int check_pattern(int fd, uint64_t off, uint64_t nblocks, uint64_t *seed, uint64_t *buf,
			 uint64_t *exp, uint64_t *bad)
{
	for (uint64_t b = 0; b < nblocks; b++) {
		if (pread(fd, buf, DISK_BLOCK, (off_t)(off + b * DISK_BLOCK)) != DISK_BLOCK)
			return errno ? errno : EIO;
		if (b == 0 && *seed == 0)
			*seed = buf[1];
		fill_block(exp, *seed, b);
		if (memcmp(buf, exp, DISK_BLOCK) != 0) {
			*bad = b;
			return -1;
		}
	}
	return 0;
}

static int do_raw(const char *dev, uint64_t seed, uint64_t *buf, uint64_t *exp)
{
	uint64_t n = DISK_RAW_BYTES / DISK_BLOCK, bad = 0, t0, t1, t2;
	int fd = open(dev, O_RDWR | O_DIRECT);
	int err;

	if (fd < 0)
		return fail("raw", dev, errno);
	t0 = now_ns();
	err = write_pattern(fd, DISK_RAW_OFFSET, n, seed, buf);
	t1 = now_ns();
	if (err) {
		close(fd);
		return fail("raw", "write", err);
	}
	err = check_pattern(fd, DISK_RAW_OFFSET, n, &seed, buf, exp, &bad);
	t2 = now_ns();
	close(fd);
	if (err > 0)
		return fail("raw", "read", err);
	if (err < 0) {
		printf("VMX3 bench disk raw FAIL mismatch in block %" PRIu64 "\n", bad);
		return 1;
	}
	printf("VMX3 bench disk raw bytes=%" PRIu64 " write_ns=%" PRIu64 " read_ns=%" PRIu64 " ok\n",
	       DISK_RAW_BYTES, t1 - t0, t2 - t1);
	return 0;
}

static int mount_fs(const char *dev, const char *mnt)
{
	mkdir(mnt, 0755);
	return mount(dev, mnt, "ext4", 0, NULL) ? errno : 0;
}

static int do_fs(const char *mode, const char *dev, const char *mnt, uint64_t seed, uint64_t *buf,
		 uint64_t *exp)
{
	uint64_t n = DISK_FILE_BYTES / DISK_BLOCK, bad = 0, t0, t1 = 0, t2;
	char path[512];
	int fd, err;
	int writing = strcmp(mode, "fs") == 0;

	snprintf(path, sizeof(path), "%s/%s", mnt, DISK_FILE_NAME);
	if ((err = mount_fs(dev, mnt)))
		return fail(mode, "mount", err);
	t0 = now_ns();
	if (writing) {
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0) {
			umount(mnt);
			return fail(mode, "create", errno);
		}
		err = write_pattern(fd, 0, n, seed, buf);
		close(fd);
		if (err) {
			umount(mnt);
			return fail(mode, "write", err);
		}
		/* Remount so the read-back comes from the disk, not the page cache. */
		if (umount(mnt))
			return fail(mode, "umount", errno);
		t1 = now_ns();
		if ((err = mount_fs(dev, mnt)))
			return fail(mode, "remount", err);
	} else {
		seed = 0;
	}
	fd = open(path, O_RDONLY);
	if (fd < 0) {
		umount(mnt);
		return fail(mode, "open", errno);
	}
	err = check_pattern(fd, 0, n, &seed, buf, exp, &bad);
	close(fd);
	t2 = now_ns();
	if (umount(mnt) && !err)
		return fail(mode, "umount", errno);
	if (err > 0)
		return fail(mode, "read", err);
	if (err < 0) {
		printf("VMX3 bench disk %s FAIL mismatch in block %" PRIu64 "\n", mode, bad);
		return 1;
	}
	if (writing)
		printf("VMX3 bench disk fs bytes=%" PRIu64 " write_ns=%" PRIu64 " read_ns=%" PRIu64
		       " seed=%016" PRIx64 " ok\n",
		       DISK_FILE_BYTES, t1 - t0, t2 - t1, seed);
	else
		printf("VMX3 bench disk check bytes=%" PRIu64 " read_ns=%" PRIu64 " seed=%016" PRIx64
		       " ok\n",
		       DISK_FILE_BYTES, t2 - t0, seed);
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "raw";
	const char *dev = argc > 2 ? argv[2] : "/dev/vda";
	const char *mnt = argc > 3 ? argv[3] : "/mnt";
	uint64_t *buf, *exp;
	/* A fresh seed per run, so a pattern left by an earlier run does not pass. */
	uint64_t seed = now_ns() ^ ((uint64_t)getpid() << 32) ^ 0x5eed;
	int rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (posix_memalign((void **)&buf, DISK_BLOCK, DISK_BLOCK) ||
	    posix_memalign((void **)&exp, DISK_BLOCK, DISK_BLOCK))
		return fail(mode, "out of memory", ENOMEM);
	if (strcmp(mode, "raw") == 0)
		rc = do_raw(dev, seed, buf, exp);
	else if (strcmp(mode, "fs") == 0 || strcmp(mode, "check") == 0)
		rc = do_fs(mode, dev, mnt, seed, buf, exp);
	else
		rc = fail(mode, "unknown mode (raw, fs, check)", 0);
	free(buf);
	free(exp);
	return rc;
}
