/*
 * ram.c - guest RAM as one memfd-backed shared mapping (see ram.h).
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <unistd.h>
#include "ram.h"

int ram_attach(struct guest_ram *r, uint64_t base, uint64_t size, int memfd, struct verr *e)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, memfd, 0);
	if (p == MAP_FAILED)
		return verr_set(e, -errno, "cannot map %llu MiB of guest RAM: %s",
				(unsigned long long)(size >> 20), strerror(errno));
	/* Guest RAM is touched sparsely and at random; huge pages help the TLB. */
	madvise(p, size, MADV_HUGEPAGE);
	r->host = p;
	r->base = base;
	r->size = size;
	r->memfd = memfd;
	return 0;
}

int ram_create(struct guest_ram *r, uint64_t base, uint64_t size, struct verr *e)
{
	struct sysinfo si;
	int fd, rc;

	memset(r, 0, sizeof(*r));
	r->memfd = -1;
	if (size == 0 || (size & 4095))
		return verr_set(e, -EINVAL, "guest RAM size %llu is not a positive multiple of 4 KiB",
				(unsigned long long)size);
	if (sysinfo(&si) == 0) {
		uint64_t host = (uint64_t)si.totalram * si.mem_unit;
		if (size > host)
			return verr_set(e, -ENOMEM,
					"guest RAM of %llu MiB is more than the host's %llu MiB",
					(unsigned long long)(size >> 20),
					(unsigned long long)(host >> 20));
	}
	fd = memfd_create("vmx3-guest-ram", MFD_CLOEXEC);
	if (fd < 0)
		return verr_set(e, -errno, "memfd_create: %s", strerror(errno));
	if (ftruncate(fd, (off_t)size) < 0) {
		rc = verr_set(e, -errno, "cannot size guest RAM memfd to %llu MiB: %s",
			      (unsigned long long)(size >> 20), strerror(errno));
		goto err_close;
	}
	rc = ram_attach(r, base, size, fd, e);
	if (rc < 0)
		goto err_close;
	return 0;

err_close:
	close(fd);
	return rc;
}

void ram_destroy(struct guest_ram *r)
{
	if (r->host)
		munmap(r->host, r->size);
	if (r->memfd >= 0)
		close(r->memfd);
	r->host = NULL;
	r->memfd = -1;
}
