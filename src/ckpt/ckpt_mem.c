/*
 * ckpt_mem.c - the memory section: saving guest RAM without its zero pages,
 * and loading it back either eagerly or lazily (userfaultfd), so that a
 * resumed guest can run before all of its memory has been read.
 *
 * Layout of the section (see ckpt_int.h):
 *   [section header][pad to 4 KiB][present pages, address order][payload]
 * where the payload is struct ckpt_mem_header, the present-page bitmap and a
 * crc32 per present page.  The payload sits after the pages because the
 * bitmap and checksums are known only once the pages are written, and the
 * writer makes one pass over RAM.
 *
 * Saving skips the memfd's holes with SEEK_DATA/SEEK_HOLE (pages the guest
 * never touched) and tests the rest for zeroes a word at a time.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <zlib.h>

#define UFFD_DEVICE "/dev/userfaultfd"
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)   /* Linux 6.1 */
#endif
#include "../lib/fileutil.h"
#include "../lib/mxuser.h"
#include "../lib/log.h"
#include "ckpt_writer_int.h"

#define RUN_MAX_PAGES 256            /* pages per write or read call */

static bool page_is_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)p;
	uint64_t acc = 0;
	for (unsigned i = 0; i < CKPT_PAGE_SIZE / 8; i += 8)
		acc |= w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] |
		       w[i + 7];
	return acc == 0;
}

static uint32_t page_crc(const uint8_t *p)
{
	return (uint32_t)crc32(0L, p, CKPT_PAGE_SIZE);
}

int ckpt_put_memory(struct ckpt_writer *w, const uint8_t *ram, uint64_t size, int memfd,
		    struct verr *e)
{
	uint64_t npages = size / CKPT_PAGE_SIZE, nbitmap = (npages + 7) / 8;
	uint64_t hdr_off = w->off, pages_off, file_off, npresent = 0;
	uint8_t *bitmap = calloc(1, nbitmap ? nbitmap : 1);
	uint32_t *crcs = malloc(npages * sizeof(uint32_t) + 4);
	uint8_t *payload = NULL;
	int rc;

	if (!bitmap || !crcs) {
		rc = verr_set(e, -ENOMEM, "out of memory");
		goto out;
	}
	if (size % CKPT_PAGE_SIZE) {
		rc = verr_set(e, -EINVAL, "RAM size is not a multiple of the page size");
		goto out;
	}
	atomic_store(&w->prog->bytes_total, size);
	pages_off = (hdr_off + CKPT_SECT_HDR_SIZE + CKPT_PAGE_SIZE - 1) & ~(uint64_t)(CKPT_PAGE_SIZE - 1);
	file_off = pages_off;

	uint64_t pg = 0;
	while (pg < npages) {
		/* Skip what the memfd has never had written: it reads as zeroes. */
		if (memfd >= 0) {
			off_t d = lseek(memfd, (off_t)(pg * CKPT_PAGE_SIZE), SEEK_DATA);
			if (d < 0 || (uint64_t)d >= size)
				break;
			pg = (uint64_t)d / CKPT_PAGE_SIZE;
		}
		uint64_t data_end = npages;
		if (memfd >= 0) {
			off_t h = lseek(memfd, (off_t)(pg * CKPT_PAGE_SIZE), SEEK_HOLE);
			if (h > 0 && (uint64_t)h < size)
				data_end = ((uint64_t)h + CKPT_PAGE_SIZE - 1) / CKPT_PAGE_SIZE;
		}
		while (pg < data_end) {
			/* Gather a run of non-zero pages, written with one call. */
			uint64_t run = 0;
			if (ckpt_writer_cancelled(w)) {
				rc = verr_set(e, -ECANCELED, "suspend cancelled");
				goto out;
			}
			while (pg + run < data_end && run < RUN_MAX_PAGES &&
			       !page_is_zero(ram + (pg + run) * CKPT_PAGE_SIZE)) {
				bitmap[(pg + run) / 8] |= (uint8_t)(1u << ((pg + run) % 8));
				crcs[npresent++] = page_crc(ram + (pg + run) * CKPT_PAGE_SIZE);
				run++;
			}
			if (run) {
				rc = ckpt_pwrite_full(w, ram + pg * CKPT_PAGE_SIZE,
						      run * CKPT_PAGE_SIZE, file_off, e);
				if (rc < 0)
					goto out;
				file_off += run * CKPT_PAGE_SIZE;
				pg += run;
			} else {
				pg++;   /* a zero page: left out */
			}
		}
	}
	atomic_store(&w->prog->bytes_total,
		     atomic_load(&w->prog->bytes_written) + sizeof(struct ckpt_mem_header) + nbitmap +
			     npresent * 4);

	size_t plen = sizeof(struct ckpt_mem_header) + nbitmap + npresent * 4;
	payload = malloc(plen);
	if (!payload) {
		rc = verr_set(e, -ENOMEM, "out of memory");
		goto out;
	}
	struct ckpt_mem_header mh = {
		.page_size = CKPT_PAGE_SIZE, .ram_size = size, .npresent = npresent,
		.pages_offset = pages_off,
	};
	memcpy(payload, &mh, sizeof(mh));
	memcpy(payload + sizeof(mh), bitmap, nbitmap);
	memcpy(payload + sizeof(mh) + nbitmap, crcs, npresent * 4);
	rc = ckpt_pwrite_full(w, payload, plen, file_off, e);
	if (rc < 0)
		goto out;
	rc = ckpt_finish_section(w, CKPT_MEMORY_SECTION, 1, file_off, plen,
				 (uint32_t)crc32(0L, payload, (uInt)plen), file_off + plen, hdr_off, e);
	if (rc < 0)
		goto out;
	w->off = file_off + plen;
out:
	free(payload);
	free(bitmap);
	free(crcs);
	return rc;
}

/* ---- loading ------------------------------------------------------------------ */

struct ckpt_lazy {
	struct ckpt_reader *r;
	uint8_t *ram;
	uint64_t size, npages;
	const struct ckpt_mem_header *mh;
	const uint8_t *bitmap;
	const uint32_t *crcs;
	uint32_t *rank;              /* present pages before each 64-page word */
	int uffd, stopfd;
	pthread_t fault_thread, fill_thread;
	bool threads;
	bool fault_joined;           /* the fill thread ended the fault thread */
	_Atomic int done;            /* every present page is in RAM */
	_Atomic int failed;
	struct mxuser_lock lock;
	struct mxuser_cond cond;
};

static bool present(const struct ckpt_lazy *l, uint64_t pg)
{
	return l->bitmap[pg / 8] & (1u << (pg % 8));
}

/* File slot of a present page: the number of present pages before it. */
static uint64_t slot_of(const struct ckpt_lazy *l, uint64_t pg)
{
	uint64_t word = pg / 64, s = l->rank[word];
	uint64_t bits;
	memcpy(&bits, l->bitmap + word * 8, 8);   /* the copy is padded to whole words */
	uint64_t mask = (pg % 64) ? ((1ull << (pg % 64)) - 1) : 0;
	return s + (uint64_t)__builtin_popcountll(bits & mask);
}

static int setup_index(struct ckpt_lazy *l, struct ckpt_section_info *s, struct verr *e)
{
	uint64_t nbitmap, nwords;
	if (s->h.payload_len < sizeof(struct ckpt_mem_header))
		return verr_set(e, -EINVAL, "%s: section \"memory\": too short", l->r->path);
	l->mh = (const struct ckpt_mem_header *)s->payload;
	if (l->mh->page_size != CKPT_PAGE_SIZE || l->mh->ram_size % CKPT_PAGE_SIZE)
		return verr_set(e, -EINVAL, "%s: section \"memory\": page size %u unsupported",
				l->r->path, l->mh->page_size);
	l->npages = l->mh->ram_size / CKPT_PAGE_SIZE;
	nbitmap = (l->npages + 7) / 8;
	if (s->h.payload_len != sizeof(struct ckpt_mem_header) + nbitmap + l->mh->npresent * 4 ||
	    l->mh->npresent > l->npages ||
	    l->mh->pages_offset % CKPT_PAGE_SIZE ||
	    l->mh->pages_offset + l->mh->npresent * CKPT_PAGE_SIZE > s->h.data_offset)
		return verr_set(e, -EINVAL, "%s: section \"memory\": inconsistent index", l->r->path);
	/* Round the bitmap up to whole 64-bit words for rank lookups. */
	nwords = (l->npages + 63) / 64;
	uint8_t *bm = calloc(nwords, 8);
	l->rank = calloc(nwords + 1, sizeof(uint32_t));
	if (!bm || !l->rank) {
		free(bm);
		return verr_set(e, -ENOMEM, "out of memory");
	}
	memcpy(bm, s->payload + sizeof(struct ckpt_mem_header), nbitmap);
	l->bitmap = bm;
	l->crcs = (const uint32_t *)(s->payload + sizeof(struct ckpt_mem_header) + nbitmap);
	uint64_t count = 0;
	for (uint64_t wd = 0; wd < nwords; wd++) {
		uint64_t bits;
		l->rank[wd] = (uint32_t)count;
		memcpy(&bits, bm + wd * 8, 8);
		count += (uint64_t)__builtin_popcountll(bits);
	}
	if (count != l->mh->npresent)
		return verr_set(e, -EINVAL, "%s: section \"memory\": bitmap and page count disagree",
				l->r->path);
	return 0;
}

/*
 * Reads `n` present pages starting at slot (the n pages of guest RAM from page
 * pg on, all present) into buf and verifies them; a bad one is named by its
 * page number in guest RAM and its place in the file.
 */
static int read_pages(struct ckpt_lazy *l, uint64_t pg, uint64_t slot, uint64_t n, uint8_t *buf,
		      struct verr *e)
{
	int rc = ckpt_pread(l->r, buf, n * CKPT_PAGE_SIZE,
			    l->mh->pages_offset + slot * CKPT_PAGE_SIZE);
	if (rc < 0)
		return verr_set(e, rc, "%s: section \"memory\": cannot read pages: %s", l->r->path,
				strerror(-rc));
	for (uint64_t i = 0; i < n; i++)
		if (page_crc(buf + i * CKPT_PAGE_SIZE) != l->crcs[slot + i])
			return verr_set(e, -EINVAL,
					"%s: section \"memory\": page %llu (RAM offset %#llx, file "
					"offset %#llx): checksum mismatch",
					l->r->path, (unsigned long long)(pg + i),
					(unsigned long long)((pg + i) * CKPT_PAGE_SIZE),
					(unsigned long long)(l->mh->pages_offset +
							     (slot + i) * CKPT_PAGE_SIZE));
	return 0;
}

static int load_eager(struct ckpt_lazy *l, struct verr *e)
{
	uint64_t pg = 0, slot = 0;
	while (pg < l->npages) {
		if (!present(l, pg)) {
			pg++;
			continue;
		}
		uint64_t run = 0;
		while (pg + run < l->npages && run < RUN_MAX_PAGES && present(l, pg + run))
			run++;
		int rc = read_pages(l, pg, slot, run, l->ram + pg * CKPT_PAGE_SIZE, e);
		if (rc < 0)
			return rc;
		pg += run;
		slot += run;
	}
	return 0;
}

/* Copies one run of pages into the registered range; EEXIST pages were faulted in already. */
static int uffd_copy(struct ckpt_lazy *l, uint64_t pg, const uint8_t *src, uint64_t n)
{
	uint64_t done = 0;
	while (done < n) {
		struct uffdio_copy c = {
			.dst = (uint64_t)(uintptr_t)(l->ram + (pg + done) * CKPT_PAGE_SIZE),
			.src = (uint64_t)(uintptr_t)(src + done * CKPT_PAGE_SIZE),
			.len = (n - done) * CKPT_PAGE_SIZE,
		};
		if (ioctl(l->uffd, UFFDIO_COPY, &c) == 0) {
			done = n;
			break;
		}
		if (c.copy > 0) {
			done += (uint64_t)c.copy / CKPT_PAGE_SIZE;
			continue;
		}
		if (errno == EEXIST || c.copy == -EEXIST) {
			done++;       /* that page is there already; go on with the next */
			continue;
		}
		if (errno == EAGAIN)
			continue;
		return -errno;
	}
	return 0;
}

static void *fault_thread(void *arg)
{
	struct ckpt_lazy *l = arg;
	uint8_t *buf = aligned_alloc(CKPT_PAGE_SIZE, CKPT_PAGE_SIZE);
	log_set_thread_name("ckpt-fault");
	for (;;) {
		struct pollfd p[2] = { { .fd = l->uffd, .events = POLLIN },
				       { .fd = l->stopfd, .events = POLLIN } };
		struct uffd_msg msg;
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		ssize_t n = read(l->uffd, &msg, sizeof(msg));
		if (n != sizeof(msg) || msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		uint64_t pg = (msg.arg.pagefault.address - (uint64_t)(uintptr_t)l->ram) / CKPT_PAGE_SIZE;
		struct verr e;
		if (present(l, pg)) {
			if (read_pages(l, pg, slot_of(l, pg), 1, buf, &e) < 0) {
				/* The guest cannot run on corrupt memory: stop the VM loudly. */
				vmx_panic(__FILE__, __LINE__, "lazy resume: %s", e.msg);
			}
		} else {
			memset(buf, 0, CKPT_PAGE_SIZE);
		}
		if (uffd_copy(l, pg, buf, 1) < 0) {
			/*
			 * ENOENT: the fill thread unregistered the range (every page is in)
			 * after this fault was queued.  Whatever the cause, the faulting
			 * thread must not wait for a copy that will not come: wake it, and
			 * its access is retried (and faults again if the page is missing).
			 */
			int err = errno;
			struct uffdio_range r = { .start = (uint64_t)(uintptr_t)(l->ram + pg * CKPT_PAGE_SIZE),
						  .len = CKPT_PAGE_SIZE };
			if (ioctl(l->uffd, UFFDIO_WAKE, &r) < 0 || err != ENOENT)
				LOG_WRN("lazy resume: UFFDIO_COPY of page %llu: %s", (unsigned long long)pg,
					strerror(err));
		}
	}
	free(buf);
	return NULL;
}

static void *fill_thread(void *arg)
{
	struct ckpt_lazy *l = arg;
	uint8_t *buf = aligned_alloc(CKPT_PAGE_SIZE, RUN_MAX_PAGES * CKPT_PAGE_SIZE);
	uint64_t pg = 0, slot = 0;
	struct verr e;
	log_set_thread_name("ckpt-fill");
	while (buf && pg < l->npages) {
		if (!present(l, pg)) {
			pg++;
			continue;
		}
		uint64_t run = 0;
		while (pg + run < l->npages && run < RUN_MAX_PAGES && present(l, pg + run))
			run++;
		if (read_pages(l, pg, slot, run, buf, &e) < 0)
			vmx_panic(__FILE__, __LINE__, "lazy resume: %s", e.msg);
		if (uffd_copy(l, pg, buf, run) < 0) {
			LOG_ERR("lazy resume: UFFDIO_COPY: %s", strerror(errno));
			atomic_store(&l->failed, 1);
			break;
		}
		pg += run;
		slot += run;
	}
	free(buf);
	/* Every saved page is in: the rest are holes that read as zeroes by themselves. */
	struct uffdio_range range = { .start = (uint64_t)(uintptr_t)l->ram, .len = l->size };
	if (ioctl(l->uffd, UFFDIO_UNREGISTER, &range) < 0)
		LOG_WRN("lazy resume: UFFDIO_UNREGISTER: %s", strerror(errno));
	/* A fault queued as the range was unregistered is woken, not left waiting. */
	ioctl(l->uffd, UFFDIO_WAKE, &range);
	/*
	 * No page will be asked for again: end the fault thread and close the
	 * file, whose space would otherwise stay in use (the resumed vmx removes
	 * the checkpoint now) until this process exits.
	 */
	if (!atomic_load(&l->failed)) {
		uint64_t one = 1;
		if (write(l->stopfd, &one, 8) == 8) {
			pthread_join(l->fault_thread, NULL);
			l->fault_joined = true;
			ckpt_reader_release_file(l->r);
		} else {
			LOG_WRN("lazy resume: cannot stop the fault thread; the checkpoint stays open");
		}
	}
	mxuser_lock(&l->lock);
	atomic_store(&l->done, 1);
	mxuser_cond_broadcast(&l->cond);
	mxuser_unlock(&l->lock);
	return NULL;
}

static int start_lazy(struct ckpt_lazy *l)
{
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_MISSING_SHMEM };
	struct uffdio_register reg = {
		.range = { .start = (uint64_t)(uintptr_t)l->ram, .len = l->size },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	l->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (l->uffd < 0 && errno == EPERM) {
		/*
		 * An unprivileged vmx (vm.unprivileged_userfaultfd = 0): hostd may
		 * have passed /dev/userfaultfd, whose open is the permission.
		 */
		int dev = file_pass_fd(UFFD_DEVICE);
		if (dev >= 0)
			l->uffd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
		else
			errno = EPERM;
	}
	if (l->uffd < 0)
		return -errno;
	if (ioctl(l->uffd, UFFDIO_API, &api) < 0 || ioctl(l->uffd, UFFDIO_REGISTER, &reg) < 0) {
		int rc = -errno;
		close(l->uffd);
		l->uffd = -1;
		return rc;
	}
	l->stopfd = eventfd(0, EFD_CLOEXEC);
	if (l->stopfd < 0 || pthread_create(&l->fault_thread, NULL, fault_thread, l) != 0)
		goto fail;
	if (pthread_create(&l->fill_thread, NULL, fill_thread, l) != 0) {
		uint64_t one = 1;
		if (write(l->stopfd, &one, 8) == 8)
			pthread_join(l->fault_thread, NULL);
		goto fail;
	}
	l->threads = true;
	return 0;
fail:
	ioctl(l->uffd, UFFDIO_UNREGISTER, &reg.range);
	close(l->uffd);
	l->uffd = -1;
	if (l->stopfd >= 0)
		close(l->stopfd);
	l->stopfd = -1;
	return -EAGAIN;
}

int ckpt_memory_size(struct ckpt_reader *r, uint64_t *size, struct verr *e)
{
	struct ckpt_section_info *s = ckpt_find_section(r, CKPT_MEMORY_SECTION);
	if (!s)
		return verr_set(e, -ENOENT, "%s: section \"memory\" is missing", r->path);
	if (s->h.payload_len < sizeof(struct ckpt_mem_header))
		return verr_set(e, -EINVAL, "%s: section \"memory\": too short", r->path);
	*size = ((const struct ckpt_mem_header *)s->payload)->ram_size;
	return 0;
}

int ckpt_load_memory(struct ckpt_reader *r, uint8_t *ram, uint64_t size, bool lazy,
		     struct verr *e)
{
	struct ckpt_section_info *s = ckpt_find_section(r, CKPT_MEMORY_SECTION);
	struct ckpt_lazy *l;
	int rc;

	if (!s)
		return verr_set(e, -ENOENT, "%s: section \"memory\" is missing", r->path);
	l = calloc(1, sizeof(*l));
	if (!l)
		return verr_set(e, -ENOMEM, "out of memory");
	l->r = r;
	l->ram = ram;
	l->size = size;
	l->uffd = l->stopfd = -1;
	mxuser_lock_init(&l->lock, "ckptLazy", MXUSER_RANK_IO);
	mxuser_cond_init(&l->cond, "ckptLazyDone");
	r->lazy = l;
	rc = setup_index(l, s, e);
	if (rc < 0)
		return rc;
	if (l->mh->ram_size != size)
		return verr_set(e, -EINVAL,
				"%s: section \"memory\": %llu MiB saved but the VM has %llu MiB (memSize)",
				r->path, (unsigned long long)(l->mh->ram_size >> 20),
				(unsigned long long)(size >> 20));
	if (lazy) {
		rc = start_lazy(l);
		if (rc == 0)
			return 0;
		LOG_INF("lazy resume unavailable (%s); loading memory now", strerror(-rc));
	}
	rc = load_eager(l, e);
	atomic_store(&l->done, 1);
	if (rc == 0)
		ckpt_reader_release_file(r);
	return rc;
}

int ckpt_verify(const char *path, struct ckpt_verify_info *info, struct verr *e)
{
	struct ckpt_reader *r;
	struct ckpt_section_info *s;
	struct ckpt_lazy l = { 0 };
	uint8_t *buf = NULL;
	uint64_t pg = 0, slot = 0;
	int rc;

	memset(info, 0, sizeof(*info));
	/* The header, every section header and every section payload's checksum. */
	rc = ckpt_reader_open(&r, path, e);
	if (rc < 0)
		return rc;
	info->nsections = r->nsections;
	s = ckpt_find_section(r, CKPT_MEMORY_SECTION);
	if (!s) {
		rc = verr_set(e, -EINVAL, "%s: section \"memory\" is missing", path);
		goto out;
	}
	l.r = r;
	rc = setup_index(&l, s, e);
	if (rc < 0)
		goto out;
	info->ram_size = l.mh->ram_size;
	buf = aligned_alloc(CKPT_PAGE_SIZE, RUN_MAX_PAGES * CKPT_PAGE_SIZE);
	if (!buf) {
		rc = verr_set(e, -ENOMEM, "out of memory");
		goto out;
	}
	/* Then every stored page against its own checksum, as a resume would load it. */
	while (pg < l.npages) {
		if (!present(&l, pg)) {
			pg++;
			continue;
		}
		uint64_t run = 0;
		while (pg + run < l.npages && run < RUN_MAX_PAGES && present(&l, pg + run))
			run++;
		rc = read_pages(&l, pg, slot, run, buf, e);
		if (rc < 0)
			goto out;
		pg += run;
		slot += run;
		info->pages_verified += run;
	}
out:
	free(buf);
	free((void *)l.bitmap);
	free(l.rank);
	ckpt_reader_close(r);
	return rc;
}

int ckpt_memory_wait(struct ckpt_reader *r, struct verr *e)
{
	struct ckpt_lazy *l = r->lazy;
	if (!l)
		return 0;
	mxuser_lock(&l->lock);
	while (!atomic_load(&l->done))
		mxuser_cond_wait(&l->cond, &l->lock);
	mxuser_unlock(&l->lock);
	if (atomic_load(&l->failed))
		return verr_set(e, -EIO, "%s: lazy memory load failed", r->path);
	return 0;
}

void ckpt_mem_lazy_free(struct ckpt_reader *r)
{
	struct ckpt_lazy *l = r->lazy;
	if (!l)
		return;
	if (l->threads) {
		uint64_t one = 1;
		pthread_join(l->fill_thread, NULL);
		if (!l->fault_joined) {
			if (write(l->stopfd, &one, 8) != 8)
				LOG_WRN("lazy resume: cannot stop the fault thread");
			pthread_join(l->fault_thread, NULL);
		}
	}
	if (l->uffd >= 0)
		close(l->uffd);
	if (l->stopfd >= 0)
		close(l->stopfd);
	free((void *)l->bitmap);
	free(l->rank);
	mxuser_lock_destroy(&l->lock);
	mxuser_cond_destroy(&l->cond);
	free(l);
	r->lazy = NULL;
}
