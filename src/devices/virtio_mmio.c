/*
 * virtio_mmio.c - virtio-mmio transport, version 2 (see virtio_mmio.h).
 *
 * Eight slots at 0x10001000 + i * 0x1000 with PLIC sources 1 + i, as on QEMU
 * virt; slot i carries disk i, the others answer with device ID 0 so Linux
 * skips them.  Requests are processed synchronously on the notify write,
 * except on queues a backend fills when it has data (virtio-net receive):
 * it peeks at posted chains and completes them itself (virtio_mmio_peek,
 * virtio_mmio_complete).  virtio-net is its own device type running this
 * transport at its own window (virtio_mmio_new).
 *
 * The guest controls every ring byte, so nothing here trusts it: ring
 * addresses must lie in RAM with the spec's alignment, avail->idx may run
 * at most a queue size ahead, a chain may not be longer than the queue,
 * refer past it, use indirect descriptors (not offered), put readable
 * descriptors after writable ones or point outside RAM.  A violation marks
 * the device DEVICE_NEEDS_RESET and raises a configuration interrupt, as
 * the virtio specification describes; the guest's driver then resets it.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <libfdt.h>
#include "virtio_mmio.h"
#include "../board/vm.h"
#include "../lib/log.h"
#include "../stats/kstat.h"
#include "../stats/stats.h"
#include "../debug/dbg.h"

enum {
	R_MAGIC = 0x000, R_VERSION = 0x004, R_DEVICE_ID = 0x008, R_VENDOR_ID = 0x00c,
	R_DEV_FEATURES = 0x010, R_DEV_FEATURES_SEL = 0x014,
	R_DRV_FEATURES = 0x020, R_DRV_FEATURES_SEL = 0x024,
	R_QUEUE_SEL = 0x030, R_QUEUE_NUM_MAX = 0x034, R_QUEUE_NUM = 0x038,
	R_QUEUE_READY = 0x044, R_QUEUE_NOTIFY = 0x050,
	R_INT_STATUS = 0x060, R_INT_ACK = 0x064, R_STATUS = 0x070,
	R_QUEUE_DESC_LO = 0x080, R_QUEUE_DESC_HI = 0x084,
	R_QUEUE_AVAIL_LO = 0x090, R_QUEUE_AVAIL_HI = 0x094,
	R_QUEUE_USED_LO = 0x0a0, R_QUEUE_USED_HI = 0x0a4,
	R_CONFIG_GEN = 0x0fc, R_CONFIG = 0x100,
};

#define VIRTIO_MMIO_MAGIC  0x74726976u   /* "virt" */
#define VIRTIO_VENDOR      0x554d4551u   /* "QEMU": what guests expect on virt */
#define VIRTQ_DESC_F_NEXT     1u
#define VIRTQ_DESC_F_WRITE    2u
#define VIRTQ_DESC_F_INDIRECT 4u
#define INT_USED_RING  1u
#define INT_CONFIG     2u

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

struct virtio_mmio {
	struct virtio_mmio_state st;
	struct dev_env env;
	unsigned irq;
	bool irq_level;
	const struct virtio_backend *ops;   /* NULL: empty slot */
	void *be;
	struct virtio_chain chain;          /* scratch for the request being handled */
	struct dbg_virtq dq[VIRTIO_MAX_QUEUES];   /* beta: what the rings were given */
};

struct virtio_mmio_state *virtio_mmio_state(struct virtio_mmio *v) { return &v->st; }

static void vm_irq_update(struct virtio_mmio *v)
{
	bool level = v->st.int_status != 0;
	if (level != v->irq_level) {
		v->irq_level = level;
		if (level)
			STAT_INC(VIRTIO_IRQ);
		v->env.irq(v->env.ctx, v->irq, level);
	}
}

static void vm_needs_reset(struct virtio_mmio *v, const char *why)
{
	if (!(v->st.status & VIRTIO_STATUS_NEEDS_RESET))
		LOG_WRN("virtio-mmio irq %u: guest driver error (%s); device needs reset", v->irq, why);
	v->st.status |= VIRTIO_STATUS_NEEDS_RESET;
	v->st.int_status |= INT_CONFIG;
	v->st.config_gen++;
	vm_irq_update(v);
}

static void vm_reset(struct virtio_mmio *v)
{
	memset(&v->st, 0, sizeof(v->st));
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
		dbg_virtq_reset(&v->dq[i], 0, 0);
	vm_irq_update(v);
}

/* Beta: the transport's own bookkeeping after every register write and queue run. */
static void vm_check(const struct virtio_mmio *v)
{
	DBG_CHECK("virtio", dbg_virtio_problem(&v->st, v->ops ? v->ops->nqueues : 0,
					       v->ops ? v->ops->features : 0, v->irq_level, v->dq,
					       v->env.bus ? v->env.bus->ram : NULL));
}

static void *gptr(struct virtio_mmio *v, uint64_t gpa, uint64_t len)
{
	return v->env.bus && v->env.bus->ram ? ram_ptr(v->env.bus->ram, gpa, len) : NULL;
}

static void ram_written(struct virtio_mmio *v, uint64_t gpa, uint64_t len)
{
	struct bus *b = v->env.bus;
	if (b && b->ram_written && len)
		b->ram_written(b->ram_written_ctx, gpa, len);
}

size_t virtio_chain_read(const struct virtio_chain *c, uint64_t off, void *dst, size_t len)
{
	size_t done = 0;
	for (unsigned i = 0; i < c->nread && done < len; i++) {
		const struct virtio_seg *s = &c->seg[i];
		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		size_t n = s->len - off < len - done ? s->len - off : len - done;
		memcpy((uint8_t *)dst + done, s->p + off, n);
		done += n;
		off = 0;
	}
	return done;
}

size_t virtio_chain_write(const struct virtio_chain *c, uint64_t off, const void *src, size_t len)
{
	size_t done = 0;
	for (unsigned i = c->nread; i < c->nseg && done < len; i++) {
		const struct virtio_seg *s = &c->seg[i];
		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		size_t n = s->len - off < len - done ? s->len - off : len - done;
		memcpy(s->p + off, (const uint8_t *)src + done, n);
		done += n;
		off = 0;
	}
	return done;
}

int virtio_chain_iov(const struct virtio_chain *c, bool write, uint64_t off, uint64_t len,
		     struct iovec *iov, unsigned max)
{
	unsigned first = write ? c->nread : 0, end = write ? c->nseg : c->nread;
	uint64_t total = write ? c->write_len : c->read_len;
	unsigned n = 0;
	if (off > total || len > total - off)
		return -EINVAL;
	for (unsigned i = first; i < end && len; i++) {
		const struct virtio_seg *s = &c->seg[i];
		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		if (n == max)
			return -EINVAL;
		uint64_t take = s->len - off < len ? s->len - off : len;
		iov[n].iov_base = s->p + off;
		iov[n].iov_len = take;
		n++;
		len -= take;
		off = 0;
	}
	return (int)n;
}

/* Walks the chain starting at head into v->chain; false when it is malformed. */
static bool vm_walk_chain(struct virtio_mmio *v, const struct virtq_state *q,
			  const struct virtq_desc *table, uint16_t head, const char **why)
{
	struct virtio_chain *c = &v->chain;
	uint32_t idx = head;
	c->nseg = c->nread = 0;
	c->read_len = c->write_len = 0;
	for (;;) {
		if (idx >= q->num) {
			*why = "descriptor index out of range";
			return false;
		}
		/* A chain can use each descriptor once, so more than num means a loop. */
		if (c->nseg == q->num) {
			*why = "descriptor chain loops or is longer than the queue";
			return false;
		}
		struct virtq_desc d;
		memcpy(&d, &table[idx], sizeof(d));
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			*why = "indirect descriptor (not negotiated)";
			return false;
		}
		bool w = d.flags & VIRTQ_DESC_F_WRITE;
		if (!w && c->nseg > c->nread) {
			*why = "readable descriptor after a writable one";
			return false;
		}
		uint8_t *p = gptr(v, d.addr, d.len);
		if (!p && d.len) {
			*why = "descriptor buffer outside guest RAM";
			return false;
		}
		c->seg[c->nseg++] = (struct virtio_seg){ .p = p, .gpa = d.addr, .len = d.len, .write = w };
		if (w)
			c->write_len += d.len;
		else {
			c->nread++;
			c->read_len += d.len;
		}
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return true;
		idx = d.next;
	}
}

static bool vm_queue_valid(struct virtio_mmio *v, const struct virtq_state *q)
{
	return q->num >= 1 && q->num <= VIRTIO_QUEUE_MAX &&
	       !(q->desc & 15) && !(q->avail & 1) && !(q->used & 3) &&
	       gptr(v, q->desc, 16ULL * q->num) && gptr(v, q->avail, 6 + 2ULL * q->num) &&
	       gptr(v, q->used, 6 + 8ULL * q->num);
}

static void vm_process_queue(struct virtio_mmio *v, unsigned qi)
{
	struct virtq_state *q = &v->st.q[qi];
	const char *why = NULL;
	bool any = false;

	if (!q->ready || (v->st.status & VIRTIO_STATUS_NEEDS_RESET) ||
	    !(v->st.status & VIRTIO_STATUS_DRIVER_OK))
		return;
	if (v->ops->async_queues & (1u << qi)) {
		v->ops->notify(v->be, qi);
		vm_check(v);
		return;
	}
	if (!vm_queue_valid(v, q)) {
		vm_needs_reset(v, "virtqueue outside RAM or misaligned");
		return;
	}
	const struct virtq_desc *table = gptr(v, q->desc, 16ULL * q->num);
	uint16_t *avail = gptr(v, q->avail, 6 + 2ULL * q->num);
	uint8_t *used = gptr(v, q->used, 6 + 8ULL * q->num);

	for (;;) {
		uint16_t avail_idx = __atomic_load_n(&avail[1], __ATOMIC_ACQUIRE);
		if (avail_idx == q->last_avail)
			break;
		if ((uint16_t)(avail_idx - q->last_avail) > q->num) {
			vm_needs_reset(v, "avail index ran ahead of the queue size");
			break;
		}
		uint16_t head = avail[2 + q->last_avail % q->num];
		if (!vm_walk_chain(v, q, table, head, &why)) {
			vm_needs_reset(v, why);
			break;
		}
		dbg_virtq_pop(&v->dq[qi], head);
		uint32_t written = v->ops->request(v->be, qi, &v->chain);
		/* Requests complete synchronously: the used-ring update is the completion. */
		kstat_push(KSTAT_IO_COMPLETE);
		for (unsigned i = v->chain.nread; i < v->chain.nseg; i++)
			ram_written(v, v->chain.seg[i].gpa, v->chain.seg[i].len);
		uint8_t *elem = used + 4 + 8ULL * (q->used_idx % q->num);
		uint32_t id = head;
		memcpy(elem, &id, 4);
		memcpy(elem + 4, &written, 4);
		q->used_idx++;
		q->last_avail++;
		__atomic_store_n((uint16_t *)(used + 2), q->used_idx, __ATOMIC_RELEASE);
		dbg_virtq_push(&v->dq[qi], head, q->used_idx);
		/* Test knob (opt/obj): the same chain goes into the used ring twice. */
		if (dbg_fault(DBG_FAULT_VIRTIO)) {
			q->used_idx++;
			dbg_virtq_push(&v->dq[qi], head, q->used_idx);
		}
		ram_written(v, q->used, 6 + 8ULL * q->num);
		kstat_pop();
		any = true;
	}
	if (any) {
		v->st.int_status |= INT_USED_RING;
		vm_irq_update(v);
	}
	vm_check(v);
}

/* ---- backends that fill a queue when they have data (virtio-net receive) ---- */

bool virtio_mmio_queue_live(struct virtio_mmio *v, unsigned qi)
{
	return v->ops && qi < v->ops->nqueues && v->st.q[qi].ready &&
	       (v->st.status & VIRTIO_STATUS_DRIVER_OK) &&
	       !(v->st.status & VIRTIO_STATUS_NEEDS_RESET);
}

int virtio_mmio_peek(struct virtio_mmio *v, unsigned qi, unsigned k, const struct virtio_chain **c,
		     uint16_t *head)
{
	struct virtq_state *q = &v->st.q[qi];
	const char *why = NULL;
	if (!virtio_mmio_queue_live(v, qi))
		return -ENOENT;
	if (!vm_queue_valid(v, q)) {
		vm_needs_reset(v, "virtqueue outside RAM or misaligned");
		return -EIO;
	}
	const struct virtq_desc *table = gptr(v, q->desc, 16ULL * q->num);
	uint16_t *avail = gptr(v, q->avail, 6 + 2ULL * q->num);
	uint16_t avail_idx = __atomic_load_n(&avail[1], __ATOMIC_ACQUIRE);
	uint16_t posted = (uint16_t)(avail_idx - q->last_avail);
	if (posted > q->num) {
		vm_needs_reset(v, "avail index ran ahead of the queue size");
		return -EIO;
	}
	if (k >= posted)
		return -ENOENT;
	*head = avail[2 + (uint16_t)(q->last_avail + k) % q->num];
	if (!vm_walk_chain(v, q, table, *head, &why)) {
		vm_needs_reset(v, why);
		return -EIO;
	}
	*c = &v->chain;
	return 0;
}

size_t virtio_mmio_chain_write(struct virtio_mmio *v, const struct virtio_chain *c, uint64_t off,
			       const void *src, size_t len)
{
	size_t done = virtio_chain_write(c, off, src, len);
	uint64_t o = off, left = done;
	for (unsigned i = c->nread; i < c->nseg && left; i++) {
		const struct virtio_seg *s = &c->seg[i];
		if (o >= s->len) {
			o -= s->len;
			continue;
		}
		uint64_t n = s->len - o < left ? s->len - o : left;
		ram_written(v, s->gpa + o, n);
		left -= n;
		o = 0;
	}
	return done;
}

bool virtio_mmio_complete(struct virtio_mmio *v, unsigned qi, const uint16_t *heads,
			  const uint32_t *lens, unsigned n)
{
	struct virtq_state *q = &v->st.q[qi];
	bool raised = false;
	if (!n || !virtio_mmio_queue_live(v, qi) || !vm_queue_valid(v, q))
		return false;
	const uint16_t *avail = gptr(v, q->avail, 6 + 2ULL * q->num);
	uint8_t *used = gptr(v, q->used, 6 + 8ULL * q->num);
	kstat_push(KSTAT_IO_COMPLETE);
	for (unsigned i = 0; i < n; i++) {
		uint8_t *elem = used + 4 + 8ULL * (q->used_idx % q->num);
		uint32_t id = heads[i];
		dbg_virtq_pop(&v->dq[qi], heads[i]);
		memcpy(elem, &id, 4);
		memcpy(elem + 4, &lens[i], 4);
		q->used_idx++;
		q->last_avail++;
		dbg_virtq_push(&v->dq[qi], heads[i], q->used_idx);
	}
	__atomic_store_n((uint16_t *)(used + 2), q->used_idx, __ATOMIC_RELEASE);
	ram_written(v, q->used, 6 + 8ULL * q->num);
	kstat_pop();
	/* VIRTQ_AVAIL_F_NO_INTERRUPT: the driver polls (NAPI) and asked for quiet. */
	if (!(__atomic_load_n(&avail[0], __ATOMIC_ACQUIRE) & 1)) {
		raised = !(v->st.int_status & INT_USED_RING);
		v->st.int_status |= INT_USED_RING;
		vm_irq_update(v);
	}
	vm_check(v);
	return raised;
}

void virtio_mmio_config_changed(struct virtio_mmio *v)
{
	v->st.config_gen++;
	if (!(v->st.status & VIRTIO_STATUS_DRIVER_OK))
		return;
	v->st.int_status |= INT_CONFIG;
	vm_irq_update(v);
}

static void vm_set_status(struct virtio_mmio *v, uint32_t val)
{
	if (val == 0) {
		vm_reset(v);
		return;
	}
	uint32_t add = val & ~v->st.status;
	if (add & VIRTIO_STATUS_FEATURES_OK) {
		/* Modern only: VERSION_1 is required and nothing beyond what we offer. */
		uint64_t offered = v->ops ? v->ops->features : 0;
		if (!(v->st.driver_features & VIRTIO_F_VERSION_1) ||
		    (v->st.driver_features & ~offered)) {
			LOG_WRN("virtio-mmio irq %u: driver features %#llx refused", v->irq,
				(unsigned long long)v->st.driver_features);
			val &= ~VIRTIO_STATUS_FEATURES_OK;
		}
	}
	/* The device sets NEEDS_RESET, the driver cannot clear it without a reset. */
	v->st.status = (val & ~VIRTIO_STATUS_NEEDS_RESET) |
		       (v->st.status & VIRTIO_STATUS_NEEDS_RESET);
	if (add & VIRTIO_STATUS_DRIVER_OK)
		for (unsigned i = 0; v->ops && i < v->ops->nqueues; i++)
			vm_process_queue(v, i);
}

static struct virtq_state *cur_queue(struct virtio_mmio *v)
{
	unsigned n = v->ops ? v->ops->nqueues : 0;
	return v->st.queue_sel < n ? &v->st.q[v->st.queue_sel] : NULL;
}

static int vm_read(void *dev, uint64_t off, unsigned len, uint64_t *val)
{
	struct virtio_mmio *v = dev;
	struct virtq_state *q = cur_queue(v);
	*val = 0;
	if (off >= R_CONFIG) {
		if (v->ops && v->ops->config_read && len <= 8) {
			uint8_t b[8] = {0};
			v->ops->config_read(v->be, off - R_CONFIG, len, b);
			memcpy(val, b, len);
		}
		return 0;
	}
	if (len != 4 || (off & 3))
		return 0;
	switch (off) {
	case R_MAGIC: *val = VIRTIO_MMIO_MAGIC; break;
	case R_VERSION: *val = 2; break;
	case R_DEVICE_ID: *val = v->ops ? v->ops->device_id : 0; break;
	case R_VENDOR_ID: *val = VIRTIO_VENDOR; break;
	case R_DEV_FEATURES:
		if (v->ops && v->st.dev_feat_sel < 2)
			*val = (uint32_t)(v->ops->features >> (32 * v->st.dev_feat_sel));
		break;
	case R_QUEUE_NUM_MAX: *val = q ? VIRTIO_QUEUE_MAX : 0; break;
	case R_QUEUE_READY: *val = q ? q->ready : 0; break;
	case R_INT_STATUS: *val = v->st.int_status; break;
	case R_STATUS: *val = v->st.status; break;
	case R_CONFIG_GEN: *val = v->st.config_gen; break;
	case R_QUEUE_NUM: *val = q ? q->num : 0; break;
	case R_QUEUE_DESC_LO: *val = q ? (uint32_t)q->desc : 0; break;
	case R_QUEUE_DESC_HI: *val = q ? q->desc >> 32 : 0; break;
	case R_QUEUE_AVAIL_LO: *val = q ? (uint32_t)q->avail : 0; break;
	case R_QUEUE_AVAIL_HI: *val = q ? q->avail >> 32 : 0; break;
	case R_QUEUE_USED_LO: *val = q ? (uint32_t)q->used : 0; break;
	case R_QUEUE_USED_HI: *val = q ? q->used >> 32 : 0; break;
	default: break;
	}
	return 0;
}

static void set_lo(uint64_t *r, uint64_t v) { *r = (*r & ~0xffffffffULL) | (uint32_t)v; }
static void set_hi(uint64_t *r, uint64_t v) { *r = (*r & 0xffffffffULL) | ((uint64_t)(uint32_t)v << 32); }

static int vm_write(void *dev, uint64_t off, unsigned len, uint64_t val)
{
	struct virtio_mmio *v = dev;
	struct virtq_state *q = cur_queue(v);
	if (off >= R_CONFIG || len != 4 || (off & 3) || !v->ops)
		return 0;   /* config space is read-only for the devices we offer */
	/* Queue layout may only change while the queue is disabled. */
	bool qw = q && !q->ready;
	switch (off) {
	case R_DEV_FEATURES_SEL: v->st.dev_feat_sel = (uint32_t)val; break;
	case R_DRV_FEATURES:
		if (v->st.drv_feat_sel < 2 && !(v->st.status & VIRTIO_STATUS_FEATURES_OK)) {
			if (v->st.drv_feat_sel)
				set_hi(&v->st.driver_features, val);
			else
				set_lo(&v->st.driver_features, val);
		}
		break;
	case R_DRV_FEATURES_SEL: v->st.drv_feat_sel = (uint32_t)val; break;
	case R_QUEUE_SEL: v->st.queue_sel = (uint32_t)val; break;
	case R_QUEUE_NUM:
		if (qw)
			q->num = (uint32_t)val;
		break;
	case R_QUEUE_READY:
		if (!q)
			break;
		if ((val & 1) && !q->ready) {
			if (!vm_queue_valid(v, q)) {
				vm_needs_reset(v, "virtqueue outside RAM, misaligned or bad size");
				break;
			}
			q->ready = 1;
		} else if (!(val & 1)) {
			q->ready = 0;
		}
		break;
	case R_QUEUE_NOTIFY:
		STAT_INC(VIRTIO_NOTIFY);
		if (val < v->ops->nqueues)
			vm_process_queue(v, (unsigned)val);
		break;
	case R_INT_ACK:
		v->st.int_status &= ~(uint32_t)val;
		vm_irq_update(v);
		break;
	case R_STATUS: vm_set_status(v, (uint32_t)val); break;
	case R_QUEUE_DESC_LO: if (qw) set_lo(&q->desc, val); break;
	case R_QUEUE_DESC_HI: if (qw) set_hi(&q->desc, val); break;
	case R_QUEUE_AVAIL_LO: if (qw) set_lo(&q->avail, val); break;
	case R_QUEUE_AVAIL_HI: if (qw) set_hi(&q->avail, val); break;
	case R_QUEUE_USED_LO: if (qw) set_lo(&q->used, val); break;
	case R_QUEUE_USED_HI: if (qw) set_hi(&q->used, val); break;
	default: break;
	}
	vm_check(v);
	return 0;
}

const struct mmio_ops virtio_mmio_ops = { .read = vm_read, .write = vm_write };

static unsigned vmmio_count(const struct vm_config *vc) { return VIRTIO_MMIO_SLOTS; }

int virtio_mmio_new(struct virtio_mmio **out, const struct dev_env *env, unsigned irq,
		    const struct virtio_backend *ops, void *be, struct verr *e)
{
	struct virtio_mmio *v = calloc(1, sizeof(*v));
	if (!v)
		return verr_set(e, -ENOMEM, "virtio-mmio: out of memory");
	v->env = *env;
	v->irq = irq;
	v->ops = ops;
	v->be = be;
	*out = v;
	return 0;
}

void virtio_mmio_free(struct virtio_mmio *v)
{
	if (!v)
		return;
	if (v->ops && v->ops->destroy)
		v->ops->destroy(v->be);
	free(v);
}

static int vmmio_create(struct device *d, const struct dev_env *env, const struct vm_config *vc,
			unsigned idx, struct verr *e)
{
	struct virtio_backend *ops = NULL;
	void *be = NULL;
	struct virtio_mmio *v;
	if (vc && idx < vc->ndisks && idx < VM_MAX_DISKS) {
		char name[16];
		snprintf(name, sizeof(name), "disk%u", idx);
		int r = vblk_open(&ops, &be, vc->disks[idx].path, vc->disks[idx].readonly, idx,
				  vc->host_files_later ? -EAGAIN : vm_config_dup_fd(vc, name), e);
		if (r < 0)
			return r;
	}
	int r = virtio_mmio_new(&v, env, VIRTIO_MMIO_IRQ0 + idx, ops, be, e);
	if (r < 0) {
		if (ops)
			ops->destroy(be);
		return r;
	}
	d->priv = v;
	d->base = VIRTIO_MMIO_BASE + idx * VIRTIO_MMIO_STRIDE;
	d->size = VIRTIO_MMIO_STRIDE;
	d->irq = v->irq;
	return 0;
}

static void vmmio_destroy(struct device *d)
{
	virtio_mmio_free(d->priv);
	d->priv = NULL;
}

void virtio_mmio_reset(struct virtio_mmio *v) { vm_reset(v); }

static void vmmio_reset(struct device *d) { vm_reset(d->priv); }

int virtio_mmio_fdt(void *fdt, uint64_t base, uint64_t size, unsigned irq)
{
	int r = dev_fdt_begin(fdt, "virtio_mmio", base, size);
	if (!r)
		r = dev_fdt_irq(fdt, irq);
	if (!r)
		r = fdt_property_string(fdt, "compatible", "virtio,mmio");
	if (!r)
		r = fdt_end_node(fdt);
	return r ? -ENOSPC : 0;
}

static int vmmio_fdt(const struct device *d, void *fdt)
{
	return virtio_mmio_fdt(fdt, d->base, d->size, d->irq);
}

static void *vmmio_state_ck(struct device *d, size_t *len)
{
	struct virtio_mmio *v = d->priv;
	/*
	 * A slot has one queue: its state ends after q[0], which also keeps the
	 * version-1 blob of older files (the struct had one queue) the same size.
	 */
	*len = offsetof(struct virtio_mmio_state, q[1]);
	return &v->st;
}

static void vmmio_restored(struct device *d) { virtio_mmio_restored(d->priv); }

void virtio_mmio_restored(struct virtio_mmio *v)
{
	v->irq_level = v->st.int_status != 0;
	v->env.irq(v->env.ctx, v->irq, v->irq_level);
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
		dbg_virtq_reset(&v->dq[i], v->st.q[i].last_avail, v->st.q[i].used_idx);
}

/*
 * Version 2: the first described by field (1 was the struct as one blob).
 * Queues are fields of their own ("q0.desc", ...); a disk has one queue, so
 * the slots describe queue 0 only (cur_queue refuses the others).
 */
struct virtio_mmio_state_slot {
	struct virtio_mmio_state st;   /* what vmmio_state_ck hands out: offset 0 */
};
static const struct ckpt_field vmmio_fields[] = {
	VIRTIO_MMIO_REG_FIELDS(struct virtio_mmio_state_slot, st),
	VIRTIO_MMIO_QUEUE_FIELDS(struct virtio_mmio_state_slot, st, 0),
};

/* The backend's host fd (a disk image), when it has one. */
static unsigned vmmio_host_fds(struct device *d, struct dev_host_fd *out, unsigned max)
{
	struct virtio_mmio *v = d->priv;
	if (!v->ops || v->ops->host_fd < 0 || max < 1)
		return 0;
	snprintf(out[0].name, sizeof(out[0].name), "%s", v->ops->host_fd_name);
	out[0].fd = v->ops->host_fd;
	return 1;
}

static int vmmio_host_release(struct device *d, struct verr *e)
{
	struct virtio_mmio *v = d->priv;
	return v->ops && v->ops->release ? v->ops->release(v->be, e) : 0;
}

static int vmmio_host_acquire(struct device *d, struct verr *e)
{
	struct virtio_mmio *v = d->priv;
	return v->ops && v->ops->acquire ? v->ops->acquire(v->be, e) : 0;
}

const struct device_type dev_type_virtio_mmio = {
	.name = "virtio-mmio",
	.count = vmmio_count,
	.create = vmmio_create,
	.destroy = vmmio_destroy,
	.reset = vmmio_reset,
	.fdt_node = vmmio_fdt,
	.mmio = &virtio_mmio_ops,
	.state = vmmio_state_ck,
	.state_version = 2,
	.state_fields = vmmio_fields,
	.nstate_fields = VMX_ARRAY_SIZE(vmmio_fields),
	.host_fds = vmmio_host_fds,
	.host_release = vmmio_host_release,
	.host_acquire = vmmio_host_acquire,
	.restored = vmmio_restored,
};
