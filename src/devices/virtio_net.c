/*
 * virtio_net.c - virtio-net device (virtio 1.x over virtio-mmio), one per
 * ethernetN of the .vmx, with a user-mode (passt) or tap backend (netbe.h).
 *
 * It runs the virtio-mmio transport (virtio_mmio.c) at its own window,
 * VNET_BASE + N * 0x1000, PLIC source VNET_IRQ0 + N, after the eight disk
 * slots.  Queues: 0 receive, 1 transmit (both filled and drained by this
 * file when the backend or the guest has something: the transport's
 * async_queues), 2 control (synchronous: only the announce acknowledgement).
 * Features: VERSION_1, MAC, STATUS, MRG_RXBUF (a large frame may span
 * several receive buffers), CTRL_VQ and GUEST_ANNOUNCE; no offloads, so
 * every frame carries its own checksums and the 12-byte header is zero.
 *
 * The backend fd is non-blocking and served on the vCPU thread between
 * slices (device_type.poll) and, while every hart idles, through the
 * board's ppoll (device_type.poll_fd), so no other thread touches the
 * device.  Frames from the backend wait in rx_buf until the guest posts
 * buffers (then the backend waits: passt buffers, a tap drops); frames the
 * guest sends go to the backend straight from guest memory, and what the
 * socket does not take at once waits in tx_buf while the transmit queue
 * stalls.  Both buffers are device state: passt's stream has no resync
 * point, so a fast switch must hand the next vmx a partly read or written
 * frame along with the socket (docs/HANDOVER.md).
 *
 * A backend that fails (passt exits, the tap goes) is logged once, the
 * link goes down (VIRTIO_NET_S_LINK_UP cleared, configuration interrupt)
 * and the transmit queue is drained and dropped, so the guest never hangs.
 * Malformed rings are the transport's business: the device needs a reset.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>
#include "virtio_mmio.h"
#include "netbe.h"
#include "../board/vm.h"
#include "../lib/log.h"
#include "../lib/mxuser.h"
#include "../stats/kstat.h"
#include "../stats/stats.h"

#define VNET_BASE   0x10009000ULL
#define VNET_STRIDE 0x1000ULL
#define VNET_IRQ0   12

#define VIRTIO_ID_NET 1
#define VIRTIO_NET_F_MAC            (1ULL << 5)
#define VIRTIO_NET_F_MRG_RXBUF      (1ULL << 15)
#define VIRTIO_NET_F_STATUS         (1ULL << 16)
#define VIRTIO_NET_F_CTRL_VQ        (1ULL << 17)
#define VIRTIO_NET_F_GUEST_ANNOUNCE (1ULL << 21)
#define VIRTIO_NET_S_LINK_UP  1u
#define VIRTIO_NET_S_ANNOUNCE 2u
#define VIRTIO_NET_CTRL_ANNOUNCE     3
#define VIRTIO_NET_CTRL_ANNOUNCE_ACK 0
#define VIRTIO_NET_OK  0
#define VIRTIO_NET_ERR 1

enum { VNET_RXQ = 0, VNET_TXQ = 1, VNET_CTRLQ = 2, VNET_NQUEUES = 3 };

#define VNET_HDR_LEN   12u                 /* struct virtio_net_hdr_v1 */
#define VNET_FRAME_MAX (65535u + 14u)      /* an IP packet of the largest MTU and its header */
#define VNET_FRAME_MIN 14u
#define VNET_RXBUF     (2u * (VNET_FRAME_MAX + 4u))
#define VNET_TXBUF     (VNET_FRAME_MAX + 4u)
#define VNET_BATCH     64u                 /* frames per queue run before the next slice */

/*
 * Everything saved and handed over.  tr mirrors the transport's state: the
 * state hook copies it in, restored() copies it back, so that one section
 * describes the device and its transport.
 */
struct vnet_state {
	struct virtio_mmio_state tr;
	uint32_t status;          /* VIRTIO_NET_S_*: config-space status */
	uint32_t rx_head, rx_len; /* backend stream bytes in rx_buf[rx_head..+rx_len) */
	uint32_t tx_off, tx_len;  /* tx_buf[tx_off..tx_len): the rest of one outgoing frame */
	uint8_t rx_buf[VNET_RXBUF];
	uint8_t tx_buf[VNET_TXBUF];
};

struct vnet_counters {
	int packets, bytes, drops, notifies, irqs;
};

struct vnet {
	struct vnet_state st;     /* first member: see device.h */
	/*
	 * The device's work (queue runs, backend I/O) all happens on the vCPU
	 * thread today; the lock keeps it one critical section for another
	 * thread to come (a backend I/O thread, the control socket), and shows
	 * its hold times in the stats build's lock statistics.
	 */
	struct mxuser_lock lock;
	struct virtio_backend ops;
	struct virtio_mmio *tr;
	unsigned idx;
	uint8_t mac[6];
	enum vm_nic_conn conn;
	int fd;                   /* backend; -1 once it failed */
	bool handed_over;         /* fd came from the previous vmx: the stream continues */
	pid_t passt_pid;          /* ours to reap, 0 when another vmx started it */
	bool stream;              /* passt: 4-byte length prefixes; tap: one frame per read */
	bool rx_stalled;          /* a whole frame waits for guest buffers */
	bool handed_off;          /* a hand-over gave the fd to the next vmx: passt is its */
	struct vnet_counters c[2];    /* stats build: [0] receive, [1] transmit */
	int kstat_backend;
	uint16_t heads[VIRTIO_QUEUE_MAX];
	uint32_t lens[VIRTIO_QUEUE_MAX];
	struct iovec iov[VIRTIO_QUEUE_MAX + 1];
};

static void vnet_stat(int id, uint64_t n)
{
	STAT_ADD_DYN(id, n);
	(void)id;
	(void)n;
}

static void vnet_register_stats(struct vnet *n)
{
	static const char *const dir[2] = { "rx", "tx" };
	char name[STATS_NAME_MAX];
	if (!VMX_STATS)
		return;
	for (unsigned q = 0; q < 2; q++) {
		struct vnet_counters *c = &n->c[q];
#define VNET_REG(field, what) \
		snprintf(name, sizeof(name), "NET.ethernet%u.%s." #field, n->idx, dir[q]); \
		c->field = stats_register(name, what);
		VNET_REG(packets, "virtio-net frames passed")
		VNET_REG(bytes, "virtio-net frame bytes passed")
		VNET_REG(drops, "virtio-net frames dropped (no driver, too large, backend down)")
		VNET_REG(notifies, "virtio-net queue notifications from the guest")
		VNET_REG(irqs, "virtio-net used-buffer interrupts raised")
#undef VNET_REG
	}
	n->kstat_backend = kstat_register("NET_BACKEND", "virtio-net backend I/O (passt socket, tap)");
}

static void backend_push(struct vnet *n)
{
	if (VMX_STATS && n->kstat_backend >= 0)
		kstat_push((unsigned)n->kstat_backend);
}

static void backend_pop(struct vnet *n)
{
	if (VMX_STATS && n->kstat_backend >= 0)
		kstat_pop();
}

static void vnet_config_read(void *be, uint64_t off, unsigned len, uint8_t *out)
{
	struct vnet *n = be;
	uint8_t cfg[12] = {0};
	uint16_t status = (uint16_t)n->st.status, pairs = 1;
	memcpy(cfg, n->mac, 6);
	memcpy(cfg + 6, &status, 2);
	memcpy(cfg + 8, &pairs, 2);
	for (unsigned i = 0; i < len; i++)
		out[i] = off + i < sizeof(cfg) ? cfg[off + i] : 0;
}

/* The backend is gone: say so once, link down, and stop using it. */
static void vnet_backend_down(struct vnet *n, const char *why)
{
	if (n->fd < 0)
		return;
	LOG_ERR("ethernet%u: the %s backend failed (%s); link down", n->idx,
		n->conn == VM_NIC_USER ? "user-mode network (passt)" : "tap", why);
	close(n->fd);
	n->fd = -1;
	n->st.rx_len = n->st.rx_head = 0;
	n->st.tx_len = n->st.tx_off = 0;
	n->rx_stalled = false;
	if (n->passt_pid > 0 && waitpid(n->passt_pid, NULL, WNOHANG) == n->passt_pid)
		n->passt_pid = 0;
	n->st.status &= ~VIRTIO_NET_S_LINK_UP;
	virtio_mmio_config_changed(n->tr);
}

/* ---- guest -> backend ---------------------------------------------------- */

/* Writes what is left in tx_buf; true when it is empty. */
static bool vnet_tx_flush(struct vnet *n)
{
	struct vnet_state *s = &n->st;
	while (s->tx_off < s->tx_len && n->fd >= 0) {
		backend_push(n);
		ssize_t w = n->stream ? send(n->fd, s->tx_buf + s->tx_off, s->tx_len - s->tx_off,
					     MSG_NOSIGNAL | MSG_DONTWAIT)
				      : write(n->fd, s->tx_buf + s->tx_off, s->tx_len - s->tx_off);
		backend_pop(n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return false;
		if (w <= 0) {
			vnet_backend_down(n, w < 0 ? strerror(errno) : "wrote nothing");
			break;
		}
		/* A tap takes a frame whole or not at all. */
		s->tx_off = n->stream ? s->tx_off + (uint32_t)w : s->tx_len;
	}
	s->tx_off = s->tx_len = 0;
	return true;
}

/*
 * Sends one frame (chain c after its header) to the backend.  What the
 * backend does not take at once is kept in tx_buf (and vnet_tx_run stops
 * taking chains until it is flushed); the chain goes back to the guest
 * either way, since its bytes are no longer needed.
 */
static void vnet_tx_frame(struct vnet *n, const struct virtio_chain *c)
{
	struct vnet_state *s = &n->st;
	uint64_t flen = c->read_len > VNET_HDR_LEN ? c->read_len - VNET_HDR_LEN : 0;
	uint32_t prefix;
	int k, ni = 0;

	if (flen < VNET_FRAME_MIN || flen > VNET_FRAME_MAX || n->fd < 0) {
		vnet_stat(n->c[1].drops, 1);
		return;
	}
	prefix = htonl((uint32_t)flen);
	if (n->stream) {
		n->iov[0] = (struct iovec){ &prefix, 4 };
		ni = 1;
	}
	k = virtio_chain_iov(c, false, VNET_HDR_LEN, flen, n->iov + ni, VIRTIO_QUEUE_MAX);
	if (k < 0) {
		vnet_stat(n->c[1].drops, 1);
		return;
	}
	ni += k;
	size_t total = flen + (n->stream ? 4 : 0);
	backend_push(n);
	struct msghdr mh = { .msg_iov = n->iov, .msg_iovlen = (size_t)ni };
	ssize_t w;
	do
		w = n->stream ? sendmsg(n->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT)
			      : writev(n->fd, n->iov, ni);
	while (w < 0 && errno == EINTR);
	backend_pop(n);
	if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
		vnet_backend_down(n, strerror(errno));
		vnet_stat(n->c[1].drops, 1);
		return;
	}
	if (w < 0)
		w = 0;
	vnet_stat(n->c[1].packets, 1);
	vnet_stat(n->c[1].bytes, flen);
	if ((size_t)w == total)
		return;
	/* The rest waits in tx_buf; the stream must not lose or reorder a byte of it. */
	uint8_t frame[4];
	memcpy(frame, &prefix, 4);
	s->tx_len = 0;
	size_t skip = (size_t)w;
	if (n->stream) {
		for (unsigned i = skip; i < 4; i++)
			s->tx_buf[s->tx_len++] = frame[i];
		skip = skip > 4 ? skip - 4 : 0;
	}
	virtio_chain_read(c, VNET_HDR_LEN + skip, s->tx_buf + s->tx_len, flen - skip);
	s->tx_len += (uint32_t)(flen - skip);
	s->tx_off = 0;
}

/* Takes what the guest posted on the transmit queue while the backend keeps up. */
static void vnet_tx_run(struct vnet *n)
{
	const struct virtio_chain *c;
	unsigned k = 0;
	while (k < VNET_BATCH) {
		if (n->st.tx_len && !vnet_tx_flush(n))
			break;
		if (virtio_mmio_peek(n->tr, VNET_TXQ, k, &c, &n->heads[k]) < 0)
			break;
		vnet_tx_frame(n, c);
		n->lens[k++] = 0;
	}
	if (virtio_mmio_complete(n->tr, VNET_TXQ, n->heads, n->lens, k))
		vnet_stat(n->c[1].irqs, 1);
}

/* ---- backend -> guest ---------------------------------------------------- */

enum vnet_put { PUT_DONE, PUT_STALL, PUT_DROP };

/* One frame into as many posted receive buffers as it needs (MRG_RXBUF). */
static enum vnet_put vnet_rx_frame(struct vnet *n, const uint8_t *frame, uint32_t flen)
{
	struct virtio_mmio_state *ts = virtio_mmio_state(n->tr);
	bool mrg = ts->driver_features & VIRTIO_NET_F_MRG_RXBUF;
	uint8_t hdr[VNET_HDR_LEN] = {0};
	uint64_t total = VNET_HDR_LEN + (uint64_t)flen, off = 0;
	const struct virtio_chain *c;
	unsigned k = 0;
	/* Where num_buffers went: chain 0's segments, kept since the next peek reuses the scratch. */
	struct virtio_chain first;

	if (!virtio_mmio_queue_live(n->tr, VNET_RXQ))
		return PUT_DROP;
	while (off < total) {
		if (k == VIRTIO_QUEUE_MAX || (k == 1 && !mrg))
			return PUT_DROP;   /* larger than everything the guest posted could hold */
		int r = virtio_mmio_peek(n->tr, VNET_RXQ, k, &c, &n->heads[k]);
		if (r == -ENOENT)
			return PUT_STALL;
		if (r < 0)
			return PUT_DROP;
		uint64_t room = c->write_len, done = 0;
		if (k == 0) {
			if (room < VNET_HDR_LEN)
				return PUT_DROP;
			first.nseg = c->nseg;
			first.nread = c->nread;
			first.read_len = c->read_len;
			first.write_len = c->write_len;
			memcpy(first.seg, c->seg, sizeof(c->seg[0]) * c->nseg);
			done = VNET_HDR_LEN;
			off = VNET_HDR_LEN;
		}
		uint64_t take = total - off < room - done ? total - off : room - done;
		virtio_mmio_chain_write(n->tr, c, done, frame + (off - VNET_HDR_LEN), take);
		off += take;
		n->lens[k++] = (uint32_t)(done + take);
	}
	uint16_t nb = (uint16_t)k;
	memcpy(hdr + 10, &nb, 2);
	virtio_mmio_chain_write(n->tr, &first, 0, hdr, sizeof(hdr));
	if (virtio_mmio_complete(n->tr, VNET_RXQ, n->heads, n->lens, k))
		vnet_stat(n->c[0].irqs, 1);
	vnet_stat(n->c[0].packets, 1);
	vnet_stat(n->c[0].bytes, flen);
	return PUT_DONE;
}

/* Reads more of the backend into rx_buf; false when nothing more came now. */
static bool vnet_rx_read(struct vnet *n)
{
	struct vnet_state *s = &n->st;
	if (n->fd < 0)
		return false;
	if (s->rx_head && s->rx_head + s->rx_len > VNET_RXBUF - (VNET_FRAME_MAX + 4)) {
		memmove(s->rx_buf, s->rx_buf + s->rx_head, s->rx_len);
		s->rx_head = 0;
	}
	uint32_t end = s->rx_head + s->rx_len;
	size_t room = VNET_RXBUF - end;
	uint8_t *dst = s->rx_buf + end;
	if (!n->stream) {
		/* A tap gives one frame per read: store it with a prefix, as passt would. */
		if (room < VNET_FRAME_MAX + 4)
			return false;
		dst += 4;
		room -= 4;
	}
	if (room == 0)
		return false;
	backend_push(n);
	ssize_t r;
	do
		r = read(n->fd, dst, room);
	while (r < 0 && errno == EINTR);
	backend_pop(n);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return false;
	if (r <= 0) {
		vnet_backend_down(n, r == 0 ? "connection closed" : strerror(errno));
		return false;
	}
	if (!n->stream) {
		uint32_t be = htonl((uint32_t)r);
		memcpy(dst - 4, &be, 4);
		r += 4;
	}
	s->rx_len += (uint32_t)r;
	return true;
}

/* Hands the guest every whole frame it has room for, reading more as it goes. */
static void vnet_rx_run(struct vnet *n)
{
	struct vnet_state *s = &n->st;
	for (unsigned done = 0; done < VNET_BATCH;) {
		uint32_t flen;
		if (s->rx_len < 4) {
			if (!vnet_rx_read(n))
				break;
			continue;
		}
		memcpy(&flen, s->rx_buf + s->rx_head, 4);
		flen = ntohl(flen);
		if (flen > VNET_FRAME_MAX) {
			vnet_backend_down(n, "frame length out of range: not the passt protocol");
			break;
		}
		if (s->rx_len - 4 < flen) {
			if (!vnet_rx_read(n))
				break;
			continue;
		}
		enum vnet_put p = flen < VNET_FRAME_MIN ? PUT_DROP
			: vnet_rx_frame(n, s->rx_buf + s->rx_head + 4, flen);
		if (p == PUT_STALL) {
			n->rx_stalled = true;
			break;
		}
		if (p == PUT_DROP)
			vnet_stat(n->c[0].drops, 1);
		s->rx_head += 4 + flen;
		s->rx_len -= 4 + flen;
		if (!s->rx_len)
			s->rx_head = 0;
		n->rx_stalled = false;
		done++;
	}
}

/* ---- transport callbacks ---------------------------------------------------- */

static void vnet_notify(void *be, unsigned q)
{
	struct vnet *n = be;
	mxuser_lock(&n->lock);
	vnet_stat(n->c[q == VNET_TXQ].notifies, 1);
	if (q == VNET_TXQ)
		vnet_tx_run(n);
	else
		vnet_rx_run(n);
	mxuser_unlock(&n->lock);
}

/* Control queue: class, command, data, then one writable ack byte. */
static uint32_t vnet_request(void *be, unsigned q, const struct virtio_chain *c)
{
	struct vnet *n = be;
	uint8_t cmd[2], ack = VIRTIO_NET_ERR;
	if (q != VNET_CTRLQ || c->write_len == 0)
		return 0;
	mxuser_lock(&n->lock);
	if (virtio_chain_read(c, 0, cmd, 2) == 2 && cmd[0] == VIRTIO_NET_CTRL_ANNOUNCE &&
	    cmd[1] == VIRTIO_NET_CTRL_ANNOUNCE_ACK) {
		if (n->st.status & VIRTIO_NET_S_ANNOUNCE)
			LOG_INF("ethernet%u: the guest announced itself", n->idx);
		n->st.status &= ~VIRTIO_NET_S_ANNOUNCE;
		ack = VIRTIO_NET_OK;
	}
	virtio_mmio_chain_write(n->tr, c, c->write_len - 1, &ack, 1);
	mxuser_unlock(&n->lock);
	return 1;
}

/*
 * passt would exit by itself once the socket closes (--one-off), but only
 * after it noticed: a resume right after a suspend would start the next
 * passt while this one still holds the forwarded ports.  So a passt we
 * started and did not hand over is stopped and waited for here.
 */
static void vnet_stop_passt(struct vnet *n)
{
	int st;
	if (n->passt_pid <= 0)
		return;
	if (n->handed_off) {
		waitpid(n->passt_pid, &st, WNOHANG);
		return;
	}
	kill(n->passt_pid, SIGTERM);
	for (unsigned i = 0; i < 200; i++) {
		pid_t r = waitpid(n->passt_pid, &st, WNOHANG);
		if (r == n->passt_pid || (r < 0 && errno == ECHILD))
			return;
		if (i == 100)
			kill(n->passt_pid, SIGKILL);
		usleep(10000);
	}
	LOG_WRN("ethernet%u: passt (pid %d) did not exit", n->idx, (int)n->passt_pid);
}

static void vnet_be_destroy(void *be)
{
	struct vnet *n = be;
	if (n->fd >= 0)
		close(n->fd);
	vnet_stop_passt(n);
	mxuser_lock_destroy(&n->lock);
	free(n);
}

/* ---- device type ------------------------------------------------------------ */

static unsigned vnet_count(const struct vm_config *vc) { return vc ? vc->nnics : 0; }

static int vnet_create(struct device *d, const struct dev_env *env, const struct vm_config *vc,
		       unsigned i, struct verr *e)
{
	const struct vm_nic_config *nc = &vc->nics[i];
	char fdname[16];
	struct vnet *n = calloc(1, sizeof(*n));
	int r;
	if (!n)
		return verr_set(e, -ENOMEM, "virtio-net: out of memory");
	n->idx = nc->idx;
	memcpy(n->mac, nc->mac, 6);
	n->conn = nc->conn;
	n->stream = nc->conn == VM_NIC_USER;
	n->c[0] = n->c[1] = (struct vnet_counters){ -1, -1, -1, -1, -1 };
	n->kstat_backend = -1;
	/* Lock names must outlive the device (lock statistics keep the pointer). */
	mxuser_lock_init(&n->lock, nc->idx ? "virtioNet1" : "virtioNet0", MXUSER_RANK_VIRTIO);
	snprintf(fdname, sizeof(fdname), "ethernet%u", nc->idx);
	n->fd = vm_config_dup_fd(vc, fdname);
	if (n->fd >= 0) {
		/* Already non-blocking (a shared file flag), unless the giver forgot: make sure. */
		n->handed_over = true;
		int fl = fcntl(n->fd, F_GETFL);
		if (fl >= 0 && !(fl & O_NONBLOCK))
			fcntl(n->fd, F_SETFL, fl | O_NONBLOCK);
	} else if (n->fd != -ENOENT) {
		r = verr_set(e, n->fd, "ethernet%u: handed-over fd: %s", nc->idx, strerror(-n->fd));
		mxuser_lock_destroy(&n->lock);
		free(n);
		return r;
	} else if (nc->conn == VM_NIC_USER) {
		n->fd = netbe_passt_start(nc, &n->passt_pid, e);
	} else {
		n->fd = netbe_tap_open(nc->vnet, e);
		if (n->fd < 0)
			verr_prefix(e, n->fd, "ethernet%u.vnet", nc->idx);
	}
	if (n->fd < 0) {
		r = n->fd;
		mxuser_lock_destroy(&n->lock);
		free(n);
		return r;
	}
	n->st.status = VIRTIO_NET_S_LINK_UP;
	n->ops = (struct virtio_backend){
		.device_id = VIRTIO_ID_NET,
		.features = VIRTIO_F_VERSION_1 | VIRTIO_NET_F_MAC | VIRTIO_NET_F_STATUS |
			    VIRTIO_NET_F_MRG_RXBUF | VIRTIO_NET_F_CTRL_VQ |
			    VIRTIO_NET_F_GUEST_ANNOUNCE,
		.nqueues = VNET_NQUEUES,
		.config_read = vnet_config_read,
		.request = vnet_request,
		.async_queues = (1u << VNET_RXQ) | (1u << VNET_TXQ),
		.notify = vnet_notify,
		.destroy = vnet_be_destroy,
		.host_fd = n->fd,
	};
	snprintf(n->ops.host_fd_name, sizeof(n->ops.host_fd_name), "%s", fdname);
	if ((r = virtio_mmio_new(&n->tr, env, VNET_IRQ0 + i, &n->ops, n, e)) < 0) {
		vnet_be_destroy(n);
		return r;
	}
	vnet_register_stats(n);
	d->priv = n;
	d->base = VNET_BASE + i * VNET_STRIDE;
	d->size = VNET_STRIDE;
	d->irq = VNET_IRQ0 + i;
	char mac[18];
	vm_format_mac(n->mac, mac);
	LOG_INF("ethernet%u: virtio-net at %#llx irq %u, MAC %s, %s backend%s", n->idx,
		(unsigned long long)d->base, d->irq, mac,
		nc->conn == VM_NIC_USER ? "user-mode (passt)" : "tap",
		n->handed_over ? " (socket handed over)" : "");
	return 0;
}

/* The bus hands a region its device's priv: the transport sits one step further. */
static int vnet_mmio_read(void *dev, uint64_t off, unsigned len, uint64_t *val)
{
	struct vnet *n = dev;
	return virtio_mmio_ops.read(n->tr, off, len, val);
}

static int vnet_mmio_write(void *dev, uint64_t off, unsigned len, uint64_t val)
{
	struct vnet *n = dev;
	return virtio_mmio_ops.write(n->tr, off, len, val);
}

static const struct mmio_ops vnet_mmio_ops = { .read = vnet_mmio_read, .write = vnet_mmio_write };

static void vnet_destroy(struct device *d)
{
	struct vnet *n = d->priv;
	if (n)
		virtio_mmio_free(n->tr);   /* frees n through vnet_be_destroy */
	d->priv = NULL;
}

static void vnet_reset(struct device *d)
{
	struct vnet *n = d->priv;
	virtio_mmio_reset(n->tr);
	n->st.status &= ~VIRTIO_NET_S_ANNOUNCE;
}

static int vnet_fdt(const struct device *d, void *fdt)
{
	return virtio_mmio_fdt(fdt, d->base, d->size, d->irq);
}

static void *vnet_state_ck(struct device *d, size_t *len)
{
	struct vnet *n = d->priv;
	n->st.tr = *virtio_mmio_state(n->tr);
	/* Stale bytes around the buffered data are no state: equal machines hash equal. */
	memset(n->st.rx_buf, 0, n->st.rx_head);
	memset(n->st.rx_buf + n->st.rx_head + n->st.rx_len, 0,
	       VNET_RXBUF - n->st.rx_head - n->st.rx_len);
	memset(n->st.tx_buf + n->st.tx_len, 0, VNET_TXBUF - n->st.tx_len);
	*len = sizeof(n->st);
	return &n->st;
}

static void vnet_restored(struct device *d)
{
	struct vnet *n = d->priv;
	struct vnet_state *s = &n->st;
	/* Checkpoints are checked field by field, but a guest-independent bound is ours to keep. */
	if (s->rx_head > VNET_RXBUF || s->rx_len > VNET_RXBUF - s->rx_head ||
	    s->tx_len > VNET_TXBUF || s->tx_off > s->tx_len) {
		LOG_WRN("ethernet%u: saved buffer bounds out of range; buffered frames dropped",
			n->idx);
		s->rx_head = s->rx_len = s->tx_off = s->tx_len = 0;
	}
	*virtio_mmio_state(n->tr) = s->tr;
	virtio_mmio_restored(n->tr);
	n->rx_stalled = false;
	if (n->handed_over) {
		/* Same socket, same passt: the stream and the guest's connections go on. */
		if (!(s->status & VIRTIO_NET_S_LINK_UP))
			LOG_WRN("ethernet%u: the link was down in the vmx that handed over", n->idx);
		return;
	}
	/*
	 * A new backend (resume from a checkpoint): half a frame of the old
	 * stream means nothing to it.  The link is up, and a guest that agreed
	 * to announce itself sends gratuitous ARPs so peers relearn its MAC.
	 */
	s->rx_head = s->rx_len = s->tx_off = s->tx_len = 0;
	s->status |= VIRTIO_NET_S_LINK_UP;
	if (s->tr.driver_features & VIRTIO_NET_F_GUEST_ANNOUNCE &&
	    (s->tr.status & VIRTIO_STATUS_DRIVER_OK)) {
		s->status |= VIRTIO_NET_S_ANNOUNCE;
		virtio_mmio_config_changed(n->tr);
		LOG_INF("ethernet%u: new backend after a resume; asking the guest to announce itself",
			n->idx);
	} else {
		LOG_INF("ethernet%u: new backend after a resume (the driver did not offer to announce "
			"itself: features %#llx, status %#x)", n->idx,
			(unsigned long long)s->tr.driver_features, s->tr.status);
	}
}

static unsigned vnet_host_fds(struct device *d, struct dev_host_fd *out, unsigned max)
{
	struct vnet *n = d->priv;
	if (n->fd < 0 || max < 1)
		return 0;
	snprintf(out[0].name, sizeof(out[0].name), "%s", n->ops.host_fd_name);
	out[0].fd = n->fd;
	return 1;
}

static void vnet_handed_over(struct device *d)
{
	struct vnet *n = d->priv;
	n->handed_off = true;
}

static int vnet_poll_fd(struct device *d, short *events)
{
	struct vnet *n = d->priv;
	if (n->fd < 0)
		return -1;
	/* A frame waiting for guest buffers: only the guest's notify can move it. */
	*events = (n->rx_stalled ? 0 : POLLIN) | (n->st.tx_len ? POLLOUT : 0);
	return *events ? n->fd : -1;
}

static void vnet_poll(struct device *d)
{
	struct vnet *n = d->priv;
	if (n->fd < 0 || (n->rx_stalled && !n->st.tx_len))
		return;
	mxuser_lock(&n->lock);
	if (n->st.tx_len && vnet_tx_flush(n))
		vnet_tx_run(n);
	if (!n->rx_stalled)
		vnet_rx_run(n);
	mxuser_unlock(&n->lock);
}

/*
 * Version 2, the first (device sections start at 2: 1 means a blob of the
 * whole struct, see device.h).  The transport's registers and three queues,
 * then the device's own: status, and the backend stream bytes not yet
 * delivered either way.
 */
#define VNF(m) CKPT_FIELD(struct vnet_state, m)
static const struct ckpt_field vnet_fields[] = {
	VIRTIO_MMIO_REG_FIELDS(struct vnet_state, tr),
	VIRTIO_MMIO_QUEUE_FIELDS(struct vnet_state, tr, 0),
	VIRTIO_MMIO_QUEUE_FIELDS(struct vnet_state, tr, 1),
	VIRTIO_MMIO_QUEUE_FIELDS(struct vnet_state, tr, 2),
	VNF(status), VNF(rx_head), VNF(rx_len), VNF(tx_off), VNF(tx_len), VNF(rx_buf), VNF(tx_buf),
};
#undef VNF
_Static_assert(VNET_NQUEUES <= VIRTIO_MAX_QUEUES, "virtio-net queues");

const struct device_type dev_type_virtio_net = {
	.name = "virtio-net",
	.count = vnet_count,
	.create = vnet_create,
	.destroy = vnet_destroy,
	.reset = vnet_reset,
	.fdt_node = vnet_fdt,
	.mmio = &vnet_mmio_ops,
	.state = vnet_state_ck,
	.state_version = 2,
	.state_fields = vnet_fields,
	.nstate_fields = VMX_ARRAY_SIZE(vnet_fields),
	.restored = vnet_restored,
	.host_fds = vnet_host_fds,
	.handed_over = vnet_handed_over,
	.poll_fd = vnet_poll_fd,
	.poll = vnet_poll,
};
