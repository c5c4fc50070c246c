/*
 * migrate.c - live migration over TCP (migrate.h, docs/MIGRATION.md).  Both
 * sides are here: the sender (a running vmx, driven by the control
 * command "migrate": a pre-copy thread, then migration_finish on the main
 * thread once the vCPUs stopped) and the receiver (a vmx started with
 * --incoming-migration).
 *
 * The wire: records with a 16-byte little-endian header (type, page count,
 * argument), written field by field:
 *   JSON   arg = length; one JSON object with a "msg" member follows
 *   PAGES  count pages from page index arg follow, 4096 bytes each
 *   ZERO   count pages from page index arg are all zero; nothing follows
 *   STATE  arg = length; the machine state follows, as a checkpoint image
 *          without memory (the fast switch's versioned sections)
 * The receiver checks every index and length against its own RAM and
 * limits before it reads: a peer can make it refuse, never write outside
 * guest RAM.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "../lib/build.h"
#include "../lib/log.h"
#include "../mem/ram.h"
#include "vmx.h"

#define MIG_MAX_JSON     65536
#define MIG_MAX_STATE    (64u << 20)
#define MIG_RUN_PAGES    256          /* pages per PAGES record: 1 MiB */
#define MIG_ACCEPT_MS    120000       /* receiver: until a sender with the token connects */
#define MIG_HELLO_MS     10000
#define MIG_STEP_MS      30000        /* one record while the transfer runs */
#define MIG_TOKEN_ENV    "VMX_MIGRATION_TOKEN"
#define MIG_PAUSE_KEY    "monitor.debugTestMigrationPause"
#define MIG_ROUNDS_KEY   "migration.maxRounds"
#define MIG_GOAL_KEY     "migration.downtimeGoalMs"
#define MIG_REC_HDR      16

enum { REC_JSON = 1, REC_PAGES = 2, REC_ZERO = 3, REC_STATE = 4 };

static const char *const state_names[] = {
	"none", "precopy", "stopping", "finishing", "waiting", "done", "failed", "inDoubt",
	"running",
};

static const char *mig_state_name(int s)
{
	return s >= 0 && s < (int)VMX_ARRAY_SIZE(state_names) ? state_names[s] : "unknown";
}

static uint64_t realtime_ns(void) { return vmx_clock_ns(CLOCK_REALTIME); }

void migration_init(struct migration *m)
{
	memset(m, 0, sizeof(*m));
	m->fd = -1;
	m->status_fd = -1;
	m->max_rounds = 30;
	m->downtime_goal_ns = 1000000;
}

int migration_configure(struct vmx *x, struct verr *e)
{
	struct migration *m = &x->mig;
	uint64_t v;
	int rc;

	if ((rc = cfg_get_u64(x->cfg, MIG_ROUNDS_KEY, 30, 1, 1000, &v, e)) < 0)
		return rc;
	m->max_rounds = v;
	if ((rc = cfg_get_u64(x->cfg, MIG_GOAL_KEY, 1, 1, 10000, &v, e)) < 0)
		return rc;
	m->downtime_goal_ns = v * 1000000ull;
	const char *p = cfg_get(x->cfg, MIG_PAUSE_KEY);
	m->test_pause[0] = 0;
	/* Like monitor.debugTestHandoverPause: shipped builds cannot be stalled from a .vmx. */
	if (VMX_DEVEL && p && p[0]) {
		if (strlen(p) >= sizeof(m->test_pause))
			return verr_set(e, -EINVAL, "%s: key '%s': \"%s\" is too long",
					cfg_name(x->cfg), MIG_PAUSE_KEY, p);
		snprintf(m->test_pause, sizeof(m->test_pause), "%s", p);
	}
	return 0;
}

static void set_error(struct vmx *x, const char *msg)
{
	mxuser_lock(&x->suspend_lock);
	snprintf(x->mig.error, sizeof(x->mig.error), "%s", msg);
	mxuser_unlock(&x->suspend_lock);
}

/* ---- the wire ------------------------------------------------------------- */

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static int send_all(int fd, const void *buf, size_t len, struct verr *e)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return verr_set(e, -errno, "send: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads exactly len bytes, each piece within timeout_ms (-1: no limit). */
static int recv_all(int fd, void *buf, size_t len, int timeout_ms, struct verr *e)
{
	uint8_t *p = buf;
	while (len) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		int r = poll(&pf, 1, timeout_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return verr_set(e, -errno, "poll: %s", strerror(errno));
		if (r == 0)
			return verr_set(e, -ETIMEDOUT, "nothing from the other vmx within %d ms",
					timeout_ms);
		ssize_t n = recv(fd, p, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			return verr_set(e, -ENOTCONN, "the other vmx closed the connection");
		if (n < 0)
			return verr_set(e, errno == ECONNRESET ? -ENOTCONN : -errno, "receive: %s",
					strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int send_hdr(int fd, uint32_t type, uint32_t pages, uint64_t arg, struct verr *e)
{
	uint8_t h[MIG_REC_HDR];
	put_le(h, type, 4);
	put_le(h + 4, pages, 4);
	put_le(h + 8, arg, 8);
	return send_all(fd, h, sizeof(h), e);
}

static int recv_hdr(int fd, int timeout_ms, uint32_t *type, uint32_t *pages, uint64_t *arg,
		    struct verr *e)
{
	uint8_t h[MIG_REC_HDR];
	int rc = recv_all(fd, h, sizeof(h), timeout_ms, e);
	if (rc < 0)
		return rc;
	*type = (uint32_t)get_le(h, 4);
	*pages = (uint32_t)get_le(h + 4, 4);
	*arg = get_le(h + 8, 8);
	return 0;
}

static int send_json(int fd, json_t *msg, struct verr *e)
{
	char *s = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	if (!s)
		return verr_set(e, -ENOMEM, "out of memory");
	size_t len = strlen(s);
	int rc = send_hdr(fd, REC_JSON, 0, len, e);
	if (rc == 0)
		rc = send_all(fd, s, len, e);
	free(s);
	return rc;
}

/* The body of a JSON record whose header was read. */
static int read_json_body(int fd, uint64_t len, json_t **out, struct verr *e)
{
	char *buf;
	json_error_t jerr;
	int rc;

	*out = NULL;
	if (len == 0 || len > MIG_MAX_JSON)
		return verr_set(e, -EPROTO, "a message of %llu bytes (at most %u)",
				(unsigned long long)len, MIG_MAX_JSON);
	if (!(buf = malloc(len + 1)))
		return verr_set(e, -ENOMEM, "out of memory");
	if ((rc = recv_all(fd, buf, len, MIG_STEP_MS, e)) == 0) {
		buf[len] = 0;
		*out = json_loads(buf, JSON_REJECT_DUPLICATES, &jerr);
		if (!*out || !json_is_object(*out) ||
		    !json_string_value(json_object_get(*out, "msg"))) {
			json_decref(*out);
			*out = NULL;
			rc = verr_set(e, -EPROTO, "malformed message");
		}
	}
	free(buf);
	return rc;
}

static int recv_json(int fd, int timeout_ms, json_t **out, struct verr *e)
{
	uint32_t type, pages;
	uint64_t arg;
	int rc = recv_hdr(fd, timeout_ms, &type, &pages, &arg, e);
	*out = NULL;
	if (rc < 0)
		return rc;
	if (type != REC_JSON)
		return verr_set(e, -EPROTO, "record type %u where a message was due", type);
	return read_json_body(fd, arg, out, e);
}

static const char *msg_type(json_t *m) { return json_string_value(json_object_get(m, "msg")); }
static const char *msg_str(json_t *m, const char *k)
{
	return json_string_value(json_object_get(m, k));
}

/* ---- sender ------------------------------------------------------------------ */

/* Guest RAM read while the guest may write it: see RAM_GUEST_ACCESS. */
static RAM_GUEST_ACCESS bool page_is_zero(const uint8_t *p)
{
	uint64_t acc = 0;
	for (unsigned i = 0; i < 4096; i += 8) {
		uint64_t v;
		__builtin_memcpy(&v, p + i, 8);
		acc |= v;
	}
	return acc == 0;
}

static bool bit_get(const uint64_t *b, uint64_t i) { return b[i >> 6] >> (i & 63) & 1; }

/*
 * Sends every page whose bit is set and clears the bits: runs of written
 * pages as PAGES records straight from guest RAM, runs of zero pages as ZERO.
 */
static int send_marked(struct vmx *x, struct verr *e)
{
	struct migration *m = &x->mig;
	uint64_t base, size;
	uint8_t *ram = vm_ram(x->vm, &base, &size);
	uint64_t pg = 0;

	while (pg < m->npages) {
		if (!m->bits[pg >> 6]) {
			pg = (pg | 63) + 1;
			continue;
		}
		if (!bit_get(m->bits, pg)) {
			pg++;
			continue;
		}
		bool zero = page_is_zero(ram + (pg << 12));
		uint64_t first = pg, n = 0;
		while (pg < m->npages && n < MIG_RUN_PAGES && bit_get(m->bits, pg) &&
		       (n == 0 || page_is_zero(ram + (pg << 12)) == zero)) {
			m->bits[pg >> 6] &= ~(1ULL << (pg & 63));
			pg++;
			n++;
		}
		int rc = send_hdr(m->fd, zero ? REC_ZERO : REC_PAGES, (uint32_t)n, first, e);
		if (rc == 0 && !zero)
			rc = send_all(m->fd, ram + (first << 12), n << 12, e);
		if (rc < 0)
			return rc;
		atomic_fetch_add(&m->pages_sent, n);
		if (zero)
			atomic_fetch_add(&m->zero_pages, n);
		else
			atomic_fetch_add(&m->bytes_sent, n << 12);
	}
	return 0;
}

/* Sets the bit of every page the RAM memfd holds data for (all of them if it cannot say). */
static void mark_data_pages(struct vmx *x)
{
	struct migration *m = &x->mig;
	uint64_t size = m->npages << 12;
	int fd = vm_ram_fd(x->vm);
	off_t pos = 0;

	while ((uint64_t)pos < size) {
		off_t data = fd >= 0 ? lseek(fd, pos, SEEK_DATA) : pos;
		if (data < 0 && errno == ENXIO)
			break;   /* only a hole from pos on */
		if (data < 0)
			data = pos;   /* no SEEK_DATA here: send everything */
		off_t hole = fd >= 0 ? lseek(fd, data, SEEK_HOLE) : (off_t)size;
		if (hole < 0 || (uint64_t)hole > size)
			hole = (off_t)size;
		for (uint64_t pg = (uint64_t)data >> 12; pg < ((uint64_t)hole + 4095) >> 12; pg++)
			m->bits[pg >> 6] |= 1ULL << (pg & 63);
		if (hole <= data)
			break;
		pos = hole;
	}
}

/*
 * The end of a round: the receiver answers once it has stored everything
 * sent before, so a round's time (and the speed the last round is judged
 * by) includes the receiver's work, and nothing is left queued when the
 * guest stops.
 */
static int round_trip(struct vmx *x, uint64_t round, struct verr *e)
{
	struct migration *m = &x->mig;
	json_t *r = NULL;
	int rc = send_json(m->fd, json_pack("{s:s, s:I}", "msg", "round", "round",
					     (json_int_t)round), e);
	if (rc == 0 && (rc = recv_json(m->fd, MIG_STEP_MS, &r, e)) == 0 &&
	    strcmp(msg_type(r), "roundDone") != 0)
		rc = verr_set(e, -EPROTO, "the receiving vmx answered \"%s\": %s", msg_type(r),
			      msg_str(r, "error") ?: "");
	json_decref(r);
	return rc;
}

static int tcp_connect(const char *peer, int *out, struct verr *e)
{
	char host[256];
	const char *colon = strrchr(peer, ':');
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai, *a;
	int rc, fd = -1;

	if (!colon || colon == peer || (size_t)(colon - peer) >= sizeof(host) || !colon[1])
		return verr_set(e, -EINVAL, "peer \"%s\" is not HOST:PORT", peer);
	memcpy(host, peer, (size_t)(colon - peer));
	host[colon - peer] = 0;
	if ((rc = getaddrinfo(host, colon + 1, &hints, &ai)) != 0)
		return verr_set(e, -EHOSTUNREACH, "peer %s: %s", peer, gai_strerror(rc));
	rc = -ECONNREFUSED;
	for (a = ai; a; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		rc = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd < 0)
		return verr_set(e, rc, "cannot connect to %s: %s", peer, strerror(-rc));
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*out = fd;
	return 0;
}

/* Connects, authenticates and checks that the receiver can take this VM. */
static int sender_hello(struct vmx *x, const char *token, struct verr *e)
{
	struct migration *m = &x->mig;
	json_t *reply = NULL;
	char why[400];
	int rc;

	if ((rc = tcp_connect(m->peer, &m->fd, e)) < 0)
		return rc;
	rc = send_json(m->fd, json_pack("{s:s, s:i, s:s, s:s, s:s, s:I, s:i}", "msg", "hello",
					 "proto", MIGRATION_PROTOCOL_VERSION, "token", token,
					 "buildType", VMX_BUILDTYPE_NAME, "version", vmx_version,
					 "memSize", (json_int_t)x->vc.mem_size, "numvcpus",
					 (int)x->vc.numvcpus),
		       e);
	if (rc == 0 && (rc = recv_json(m->fd, MIG_STEP_MS, &reply, e)) < 0)
		verr_prefix(e, rc, "waiting for the receiving vmx's hello");
	if (rc < 0)
		return rc;
	snprintf(m->peer_build, sizeof(m->peer_build), "%s", msg_str(reply, "buildType") ?: "?");
	if (strcmp(msg_type(reply), "hello") != 0) {
		rc = verr_set(e, -EPROTO, "the receiving vmx refused: %s",
			      msg_str(reply, "error") ?: msg_type(reply));
	} else if (json_integer_value(json_object_get(reply, "proto")) !=
		   MIGRATION_PROTOCOL_VERSION) {
		rc = verr_set(e, -EPROTO, "the receiving vmx speaks migration protocol %lld, this "
			      "vmx %d", (long long)json_integer_value(json_object_get(reply, "proto")),
			      MIGRATION_PROTOCOL_VERSION);
	} else {
		handover_check_versions(json_object_get(reply, "sections"), m->peer_build, why,
					sizeof(why));
		if (why[0])
			rc = verr_set(e, -EPROTO, "%s", why);
	}
	json_decref(reply);
	return rc;
}

/* The pre-copy went wrong while the guest ran: it keeps running here. */
static void precopy_failed(struct vmx *x, const char *what, struct verr *e)
{
	struct migration *m = &x->mig;
	char msg[512];
	struct verr ignore;

	snprintf(msg, sizeof(msg), "%s: %s", what, e->msg);
	vm_dirty_stop(x->vm);
	if (m->fd >= 0) {
		send_json(m->fd, json_pack("{s:s, s:s}", "msg", "abort", "error", msg), &ignore);
		close(m->fd);
		m->fd = -1;
	}
	set_error(x, msg);
	atomic_store(&m->state, MIG_FAILED);
	LOG_WRN("migration to %s failed, the guest runs on here: %s", m->peer, msg);
}

static void *precopy_main(void *arg)
{
	struct vmx *x = arg;
	struct migration *m = &x->mig;
	struct verr e = { "" };
	int rc;

	log_set_thread_name("migrate");
	/* Memory still arriving from a lazy resume must be in before it is read. */
	if (x->resume_reader && (rc = ckpt_memory_wait(x->resume_reader, &e)) < 0) {
		precopy_failed(x, "waiting for the resumed memory", &e);
		return NULL;
	}
	if ((rc = vm_dirty_start(x->vm, &e)) < 0) {
		precopy_failed(x, "starting the dirty log", &e);
		return NULL;
	}
	/*
	 * Round 0 sends every page that holds data.  Pages the guest never
	 * wrote are holes in the RAM memfd: the receiver's fresh RAM is zero
	 * there already, and reading them here would only allocate them.
	 */
	mark_data_pages(x);
	for (uint64_t round = 0;; round++) {
		uint64_t t0 = vmx_now_ns();
		uint64_t p0 = atomic_load(&m->pages_sent);
		if ((rc = send_marked(x, &e)) < 0 || (rc = round_trip(x, round, &e)) < 0) {
			precopy_failed(x, "copying guest memory", &e);
			return NULL;
		}
		uint64_t dt = vmx_now_ns() - t0 + 1;
		uint64_t sent_pages = atomic_load(&m->pages_sent) - p0;
		uint64_t n = vm_dirty_sync(x->vm, m->bits);
		atomic_store(&m->rounds, round + 1);
		atomic_store(&m->dirty_last, n);
		atomic_store(&m->remaining, n);
		/* What the last round would cost at this round's speed (zero pages are free). */
		double ns_per_page = sent_pages ? (double)dt / (double)sent_pages : 1000.0;
		double est = (double)n * ns_per_page;
		LOG_INF("migration: round %llu: %llu pages in %.1f ms; %llu written meanwhile "
			"(about %.2f ms to send)", (unsigned long long)round,
			(unsigned long long)sent_pages, (double)dt / 1e6, (unsigned long long)n,
			est / 1e6);
		if (atomic_load(&m->state) != MIG_PRECOPY)
			return NULL;   /* the VM stopped for good meanwhile */
		if (est <= (double)m->downtime_goal_ns || n <= 16 || round + 1 >= m->max_rounds)
			break;
	}
	int want = MIG_PRECOPY;
	if (atomic_compare_exchange_strong(&m->state, &want, MIG_STOPPING))
		vm_request_stop(x->vm);
	return NULL;
}

/* The migration did not happen: the guest is this process's again. */
static int take_back(struct vmx *x, int rc, struct verr *e, const char *what, bool released)
{
	struct migration *m = &x->mig;
	struct verr ignore;
	char msg[512];

	snprintf(msg, sizeof(msg), "%s: %s", what, e->msg);
	verr_set(e, rc, "%s", msg);
	if (m->fd >= 0) {
		send_json(m->fd, json_pack("{s:s, s:s}", "msg", "abort", "error", msg), &ignore);
		close(m->fd);
		m->fd = -1;
	}
	if (released) {
		/* A receiver that opened the disks lets go when it exits: give it a moment. */
		struct verr ae = { "" };
		int ar = -EBUSY;
		for (int i = 0; i < 100 && (ar = vm_acquire_host_files(x->vm, &ae)) < 0; i++)
			usleep(100000);
		if (ar < 0) {
			size_t l = strlen(msg);
			snprintf(msg + l, sizeof(msg) - l, "; the disks could not be opened here "
				 "again, the guest sees I/O errors: %s", ae.msg);
			LOG_ERR("migration: %s", msg);
		}
	}
	set_error(x, msg);
	atomic_store(&m->state, MIG_FAILED);
	LOG_WRN("migration to %s failed after %.3f ms of pause, the guest runs on here: %s",
		m->peer, (double)(vmx_now_ns() - m->t.stop) / 1e6, msg);
	return rc;
}

/* "go" sent, nothing certain since: wait for hostd's word (migrateResolve). */
static int in_doubt(struct vmx *x, struct verr *e, const char *why)
{
	struct migration *m = &x->mig;
	char msg[512];

	snprintf(msg, sizeof(msg), "after \"go\": %s; the guest stays paused here until "
		 "migrateResolve says whether the receiving vmx runs it", why);
	set_error(x, msg);
	atomic_store(&m->resolve, 0);
	atomic_store(&m->state, MIG_INDOUBT);
	LOG_WRN("migration: %s", msg);
	int r;
	while ((r = atomic_load(&m->resolve)) == 0) {
		if (atomic_load(&x->power_state) == VMX_POWER_STOPPING)
			return 0;   /* a power-off while in doubt: this process runs nothing more */
		usleep(10000);
	}
	if (r == 2) {
		atomic_store(&m->state, MIG_DONE);
		LOG_INF("migration: resolved: the receiving vmx runs the guest; this process exits");
		return 0;
	}
	verr_set(e, -ECANCELED, "%s", msg);
	return take_back(x, -ECANCELED, e, "resolved: the receiving vmx does not run the guest",
			 true);
}

/* The machine state (no memory) as checkpoint image bytes. */
static int state_bytes(struct vmx *x, uint8_t **out, size_t *len, struct verr *e)
{
	struct ckpt_writer *w;
	struct stat st;
	int rc, fd = -1;

	if ((rc = ckpt_writer_open_anon(&w, e)) < 0)
		return rc;
	if ((rc = vm_save_state(x->vm, w, e)) < 0) {
		ckpt_writer_abort(w);
		return rc;
	}
	if ((rc = ckpt_writer_finish_fd(w, vmx_version, VMX_BUILDTYPE_NAME, &fd, e)) < 0)
		return rc;
	if (fstat(fd, &st) < 0 || st.st_size <= 0 || (uint64_t)st.st_size > MIG_MAX_STATE) {
		rc = verr_set(e, -EIO, "the state image has %lld bytes", (long long)st.st_size);
		goto out;
	}
	*len = (size_t)st.st_size;
	if (!(*out = malloc(*len))) {
		rc = verr_set(e, -ENOMEM, "out of memory");
		goto out;
	}
	if (pread(fd, *out, *len, 0) != (ssize_t)*len) {
		rc = verr_set(e, -EIO, "reading the state image: %s", strerror(errno));
		free(*out);
		*out = NULL;
	}
out:
	close(fd);
	return rc;
}

int migration_finish(struct vmx *x, struct verr *e)
{
	struct migration *m = &x->mig;
	json_t *reply = NULL;
	uint8_t *st = NULL;
	size_t stlen = 0;
	int rc;

	m->t.stop = vmx_now_ns();
	uint64_t stop_real = realtime_ns();
	if (m->thread_started) {
		pthread_join(m->thread, NULL);
		m->thread_started = false;
	}
	atomic_store(&m->state, MIG_FINISHING);
	vmx_test_pause(m->test_pause, "stopped");
	/* Console bytes the guest wrote go out before the file is the other host's. */
	vm_flush_output(x->vm);
	/* The vCPUs are stopped: this sync is the last, and exact. */
	uint64_t n = vm_dirty_sync(x->vm, m->bits);
	vm_dirty_stop(x->vm);
	atomic_store(&m->remaining, n);
	if ((rc = send_marked(x, e)) < 0)
		return take_back(x, rc, e, "sending the last pages", false);
	if ((rc = vm_release_host_files(x->vm, e)) < 0)
		return take_back(x, rc, e, "letting go of the disks", false);
	if ((rc = state_bytes(x, &st, &stlen, e)) < 0)
		return take_back(x, rc, e, "saving the state", true);
	rc = send_json(m->fd, json_pack("{s:s, s:I, s:I, s:I}", "msg", "state", "tStopRealNs",
					 (json_int_t)stop_real, "rounds",
					 (json_int_t)atomic_load(&m->rounds), "lastPages",
					 (json_int_t)n),
		       e);
	if (rc == 0 && (rc = send_hdr(m->fd, REC_STATE, 0, stlen, e)) == 0)
		rc = send_all(m->fd, st, stlen, e);
	free(st);
	if (rc < 0)
		return take_back(x, rc, e, "sending the state", true);
	m->t.sent = vmx_now_ns();
	atomic_store(&m->state, MIG_WAITING);
	vmx_test_pause(m->test_pause, "sent");
	rc = recv_json(m->fd, MIG_STEP_MS, &reply, e);
	if (rc < 0)
		return take_back(x, rc, e, rc == -ENOTCONN ? "the receiving vmx exited before it "
				 "was ready" : "waiting for the receiving vmx", true);
	if (strcmp(msg_type(reply), "ready") != 0) {
		rc = verr_set(e, -EPROTO, "%s", msg_str(reply, "error") ?: msg_type(reply));
		json_decref(reply);
		return take_back(x, rc, e, "the receiving vmx refused the state", true);
	}
	json_decref(reply);
	vmx_test_pause(m->test_pause, "ready");
	/* From the moment "go" may have left, only the receiver may run the guest. */
	if ((rc = send_json(m->fd, json_pack("{s:s}", "msg", "go"), e)) < 0)
		return in_doubt(x, e, "sending go failed");
	rc = recv_json(m->fd, -1, &reply, e);
	if (rc < 0)
		return in_doubt(x, e, e->msg);
	if (strcmp(msg_type(reply), "running") != 0) {
		char why[128];
		snprintf(why, sizeof(why), "unexpected \"%s\"", msg_type(reply));
		json_decref(reply);
		return in_doubt(x, e, why);
	}
	json_decref(reply);
	close(m->fd);
	m->fd = -1;
	atomic_store(&m->state, MIG_DONE);
	LOG_INF("migration: the vmx at %s (%s build) runs the guest (paused %.3f ms here, the "
		"last data sent %.3f ms after the stop; %llu rounds, %llu pages, %llu of them zero); "
		"this process exits", m->peer, m->peer_build, (double)(vmx_now_ns() - m->t.stop) / 1e6,
		(double)(m->t.sent - m->t.stop) / 1e6,
		(unsigned long long)atomic_load(&m->rounds),
		(unsigned long long)atomic_load(&m->pages_sent),
		(unsigned long long)atomic_load(&m->zero_pages));
	return 0;
}

void migration_close(struct migration *m)
{
	if (m->thread_started) {
		/* The VM ended during the pre-copy: the thread sees it and stops sending. */
		int s = MIG_PRECOPY;
		atomic_compare_exchange_strong(&m->state, &s, MIG_FAILED);
		if (m->fd >= 0)
			shutdown(m->fd, SHUT_RDWR);
		pthread_join(m->thread, NULL);
		m->thread_started = false;
	}
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
	free(m->bits);
	m->bits = NULL;
	if (m->status_fd >= 0)
		close(m->status_fd);
	m->status_fd = -1;
}

/* ---- receiver ---------------------------------------------------------------- */

static int listen_at(const char *addr, struct verr *e)
{
	char host[256];
	const char *colon = strrchr(addr, ':');
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE }, *ai;
	int rc, fd;

	if (!strncmp(addr, "fd:", 3)) {
		char *end;
		long v = strtol(addr + 3, &end, 10);
		int type = 0;
		socklen_t tl = sizeof(type);
		if (*end || v < 3 || v > 65535 ||
		    getsockopt((int)v, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_STREAM)
			return verr_set(e, -EINVAL, "--incoming-migration %s: not an inherited "
					"listening TCP socket", addr);
		fcntl((int)v, F_SETFD, FD_CLOEXEC);
		return (int)v;
	}
	if (!colon || (size_t)(colon - addr) >= sizeof(host) || !colon[1])
		return verr_set(e, -EINVAL, "--incoming-migration %s: not HOST:PORT or fd:N", addr);
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = 0;
	if ((rc = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &ai)) != 0)
		return verr_set(e, -EINVAL, "--incoming-migration %s: %s", addr, gai_strerror(rc));
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 4) < 0) {
		rc = verr_set(e, -errno, "cannot listen at %s: %s", addr, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return rc;
	}
	freeaddrinfo(ai);
	return fd;
}

static bool token_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = (unsigned char)(la != lb);
	for (size_t i = 0; i < la && i < lb; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

static json_t *hello_reply(void)
{
	const char *names[VM_MAX_STATE_KINDS];
	uint32_t vers[VM_MAX_STATE_KINDS];
	unsigned n = vm_state_versions(names, vers, VM_MAX_STATE_KINDS);
	json_t *sections = json_object();
	for (unsigned i = 0; i < n; i++)
		json_object_set_new(sections, names[i], json_integer(vers[i]));
	return json_pack("{s:s, s:i, s:s, s:s, s:i, s:o}", "msg", "hello", "proto",
			 MIGRATION_PROTOCOL_VERSION, "buildType", VMX_BUILDTYPE_NAME, "version",
			 vmx_version, "pid", (int)getpid(), "sections", sections);
}

static void refuse(int fd, struct verr *e)
{
	struct verr ignore;
	LOG_ERR("migration: refusing: %s", e->msg);
	send_json(fd, json_pack("{s:s, s:s}", "msg", "refused", "error", e->msg), &ignore);
}

/*
 * Waits for a sender that knows the token; others are logged and closed.
 * Returns the connection and its hello.
 */
static int accept_sender(int lfd, const char *token, json_t **hello, struct verr *e)
{
	uint64_t end = vmx_now_ns() + MIG_ACCEPT_MS * 1000000ull;
	for (;;) {
		uint64_t now = vmx_now_ns();
		if (now >= end)
			return verr_set(e, -ETIMEDOUT, "no sending vmx within %d s", MIG_ACCEPT_MS / 1000);
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		int r = poll(&p, 1, (int)((end - now) / 1000000) + 1);
		if (r <= 0)
			continue;
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		struct verr he = { "" };
		json_t *m = NULL;
		if (recv_json(fd, MIG_HELLO_MS, &m, &he) == 0 && !strcmp(msg_type(m), "hello") &&
		    msg_str(m, "token") && token_equal(msg_str(m, "token"), token)) {
			int one = 1;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			*hello = m;
			return fd;
		}
		LOG_WRN("migration: a connection without the right hello was closed%s%s",
			he.msg[0] ? ": " : "", he.msg);
		if (m && !strcmp(msg_type(m), "hello")) {
			verr_set(&he, -EACCES, "wrong migration token");
			refuse(fd, &he);
		}
		json_decref(m);
		close(fd);
	}
}

/* Receives pages until the "state" message; all indexes checked against RAM. */
static int receive_memory(struct vmx *x, int fd, json_t **state_msg, struct verr *e)
{
	uint64_t base, size;
	uint8_t *ram = vm_ram(x->vm, &base, &size);
	uint64_t npages = size >> 12, pages = 0;
	/* Pages written here so far: a zero run over the others needs no work. */
	uint64_t *written = calloc((npages + 63) / 64 + 1, sizeof(uint64_t));
	int rc = 0;

	if (!written)
		return verr_set(e, -ENOMEM, "out of memory");
	for (;;) {
		uint32_t type, n;
		uint64_t arg;
		if ((rc = recv_hdr(fd, MIG_STEP_MS, &type, &n, &arg, e)) < 0)
			break;
		if (type == REC_JSON) {
			if ((rc = read_json_body(fd, arg, state_msg, e)) < 0)
				break;
			if (!strcmp(msg_type(*state_msg), "round")) {
				atomic_fetch_add(&x->mig.rounds, 1);
				json_decref(*state_msg);
				*state_msg = NULL;
				if ((rc = send_json(fd, json_pack("{s:s}", "msg", "roundDone"), e)) < 0)
					break;
				continue;
			}
			if (strcmp(msg_type(*state_msg), "state") != 0) {
				rc = verr_set(e, -ECANCELED, "the sending vmx gave up: %s",
					      msg_str(*state_msg, "error") ?: msg_type(*state_msg));
				break;
			}
			atomic_store(&x->mig.pages_sent, pages);
			atomic_store(&x->mig.dirty_last, (uint64_t)json_integer_value(
				     json_object_get(*state_msg, "lastPages")));
			break;
		}
		if ((type != REC_PAGES && type != REC_ZERO) || n == 0 || n > MIG_RUN_PAGES ||
		    arg >= npages || n > npages - arg) {
			rc = verr_set(e, -EPROTO, "record type %u for %u pages at page %llu (guest RAM "
				      "has %llu pages)", type, n, (unsigned long long)arg,
				      (unsigned long long)npages);
			break;
		}
		uint8_t *p = ram + (arg << 12);
		if (type == REC_PAGES && (rc = recv_all(fd, p, (size_t)n << 12, MIG_STEP_MS, e)) < 0)
			break;
		if (type == REC_PAGES)
			atomic_fetch_add(&x->mig.bytes_sent, (uint64_t)n << 12);
		else
			atomic_fetch_add(&x->mig.zero_pages, n);
		for (uint64_t pg = arg; pg < arg + n; pg++) {
			uint64_t bit = 1ULL << (pg & 63);
			if (type == REC_PAGES)
				written[pg >> 6] |= bit;
			else if (written[pg >> 6] & bit)
				memset(ram + (pg << 12), 0, 4096);
		}
		pages += n;
	}
	free(written);
	return rc;
}

/* The STATE record: restored into the machine built around the received RAM. */
static int receive_state(struct vmx *x, int fd, json_t *sm, struct verr *e)
{
	struct ckpt_reader *rd = NULL;
	uint32_t type, n;
	uint64_t len;
	uint8_t *buf = NULL;
	int rc, mfd = -1;

	if ((rc = recv_hdr(fd, MIG_STEP_MS, &type, &n, &len, e)) < 0)
		return rc;
	if (type != REC_STATE || len == 0 || len > MIG_MAX_STATE)
		return verr_set(e, -EPROTO, "record type %u of %llu bytes where the state was due",
				type, (unsigned long long)len);
	if (!(buf = malloc(len)))
		return verr_set(e, -ENOMEM, "out of memory");
	if ((rc = recv_all(fd, buf, len, MIG_STEP_MS, e)) < 0)
		goto out;
	mfd = memfd_create("vmx-migration-state", MFD_CLOEXEC);
	if (mfd < 0 || write(mfd, buf, len) != (ssize_t)len) {
		rc = verr_set(e, -errno, "state memfd: %s", strerror(errno));
		goto out;
	}
	/* The sender let go of the disks before it sent this. */
	if ((rc = vm_acquire_host_files(x->vm, e)) < 0)
		goto out;
	rc = ckpt_reader_open_fd(&rd, mfd, "migrated state", e);
	mfd = -1;
	if (rc < 0)
		goto out;
	rc = vm_restore_state(x->vm, rd, e);
	ckpt_reader_close(rd);
	if (rc < 0)
		goto out;
	/* The guest's clock went on while it was stopped (hosts keep real time in step). */
	uint64_t t_stop = (uint64_t)json_integer_value(json_object_get(sm, "tStopRealNs"));
	uint64_t now_real = realtime_ns(), now = vmx_now_ns();
	if (t_stop && now_real > t_stop && now_real - t_stop < 60000000000ull) {
		vm_time_advance(x->vm, now_real - t_stop);
		x->mig.t.stop = now - (now_real - t_stop);
	} else {
		x->mig.t.stop = now;
	}
out:
	if (mfd >= 0)
		close(mfd);
	free(buf);
	return rc;
}

/*
 * The sender's connection ended after this process had the whole VM and
 * before "go": the sender died (then only this copy is left) or the
 * network failed (then the sender takes the guest back).  This process
 * cannot tell which; hostd can, through the center: it says "orphaned" on
 * the status channel and waits for "run" or "exit".  0: run the guest.
 */
static int orphaned(struct vmx *x, struct verr *e)
{
	struct migration *m = &x->mig;
	char buf[16];
	size_t n = 0;

	LOG_WRN("migration: the sending vmx vanished after handing over the whole VM (%s); "
		"nothing runs it now; waiting for hostd to say whether this process may", e->msg);
	if (write(m->status_fd, "orphaned\n", 9) != 9)
		return verr_set(e, -EIO, "the sending vmx vanished, and hostd cannot be told: %s",
				strerror(errno));
	for (;;) {
		ssize_t r = read(m->status_fd, buf + n, sizeof(buf) - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return verr_set(e, -ECANCELED, "the sending vmx vanished, and hostd closed the "
					"status channel without a word: not running the guest");
		n += (size_t)r;
		buf[n] = 0;
		if (strchr(buf, '\n') || n == sizeof(buf) - 1)
			break;
	}
	if (strncmp(buf, "run\n", 4) != 0)
		return verr_set(e, -ECANCELED, "the sending vmx vanished, and hostd says the guest runs "
				"elsewhere: not running it");
	/* Like "go": hostd's record that this process runs the guest now. */
	if (write(m->status_fd, "go\n", 3) != 3)
		LOG_WRN("migration: status fd: %s", strerror(errno));
	LOG_INF("migration: hostd says the sending vmx is gone: this process runs the guest");
	return 0;
}

int migration_receive(struct vmx *x, const char *addr, struct verr *e)
{
	struct migration *m = &x->mig;
	const char *tok = getenv(MIG_TOKEN_ENV);
	char token[256];
	json_t *hello = NULL, *sm = NULL, *go = NULL;
	int lfd, fd = -1, rc;

	m->incoming = true;
	if (!tok || strlen(tok) < 16 || strlen(tok) >= sizeof(token))
		return verr_set(e, -EINVAL, "--incoming-migration needs the environment variable %s "
				"(16 to 255 characters) that the sender must present", MIG_TOKEN_ENV);
	snprintf(token, sizeof(token), "%s", tok);
	/* Not for the NIC's passt or anything else this process starts. */
	unsetenv(MIG_TOKEN_ENV);
	if ((lfd = listen_at(addr, e)) < 0)
		return lfd;
	{
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		char h[128] = "?", p[16] = "?";
		if (getsockname(lfd, (struct sockaddr *)&ss, &sl) == 0)
			getnameinfo((struct sockaddr *)&ss, sl, h, sizeof(h), p, sizeof(p),
				    NI_NUMERICHOST | NI_NUMERICSERV);
		LOG_INF("migration: waiting for the running vmx on %s:%s", h, p);
	}
	fd = accept_sender(lfd, token, &hello, e);
	close(lfd);
	explicit_bzero(token, sizeof(token));
	if (fd < 0)
		return fd;
	m->fd = fd;
	snprintf(m->peer_build, sizeof(m->peer_build), "%s", msg_str(hello, "buildType") ?: "?");
	LOG_INF("migration: taking over from a %s vmx (version %s)", m->peer_build,
		msg_str(hello, "version") ?: "?");
	if (json_integer_value(json_object_get(hello, "proto")) != MIGRATION_PROTOCOL_VERSION) {
		rc = verr_set(e, -EPROTO, "migration protocol %lld, this vmx speaks %d",
			      (long long)json_integer_value(json_object_get(hello, "proto")),
			      MIGRATION_PROTOCOL_VERSION);
		goto refused;
	}
	if ((uint64_t)json_integer_value(json_object_get(hello, "memSize")) != x->vc.mem_size ||
	    json_integer_value(json_object_get(hello, "numvcpus")) != (json_int_t)x->vc.numvcpus) {
		rc = verr_set(e, -EINVAL, "the sending VM has %lld MiB and %lld vCPUs, %s says "
			      "memSize %llu and numvcpus %u",
			      (long long)json_integer_value(json_object_get(hello, "memSize")) >> 20,
			      (long long)json_integer_value(json_object_get(hello, "numvcpus")),
			      x->vmx_name, (unsigned long long)(x->vc.mem_size >> 20),
			      x->vc.numvcpus);
		goto refused;
	}
	/* The machine, with fresh RAM to fill; the disks wait for the sender to let go. */
	x->vc.resume = true;
	x->vc.host_files_later = true;
	if ((rc = vm_create(&x->vm, &x->vc, e)) < 0)
		goto refused;
	if ((rc = send_json(fd, hello_reply(), e)) < 0)
		goto out;
	vmx_test_pause(m->test_pause, "hello");
	if ((rc = receive_memory(x, fd, &sm, e)) < 0)
		goto refused;
	if ((rc = receive_state(x, fd, sm, e)) < 0)
		goto refused;
	m->t.ready = vmx_now_ns();
	vmx_test_pause(m->test_pause, "restored");
	/*
	 * Without "go" nothing runs here: the sender may still take the guest
	 * back.  A sender that vanished (the connection reset or closed, no
	 * "abort") may be dead with this the only copy: hostd may know.
	 */
	rc = send_json(fd, json_pack("{s:s}", "msg", "ready"), e);
	if (rc == 0)
		rc = recv_json(fd, -1, &go, e);
	if (rc < 0) {
		bool vanished = rc == -ENOTCONN || rc == -EPIPE || rc == -ECONNRESET;
		if (vanished && m->status_fd >= 0 && orphaned(x, e) == 0)
			goto run;
		goto out;
	}
	if (strcmp(msg_type(go), "go") != 0) {
		rc = verr_set(e, -ECANCELED, "the sending vmx took the guest back: %s",
			      msg_str(go, "error") ?: msg_type(go));
		goto out;
	}
	/* hostd's record that this process may have run the guest, whatever happens next. */
	if (m->status_fd >= 0 && write(m->status_fd, "go\n", 3) != 3)
		LOG_WRN("migration: status fd: %s", strerror(errno));
	vmx_test_pause(m->test_pause, "go");
	{
		struct verr ignore;
		/* The sender stays paused until it hears this or is told; failing here changes nothing. */
		if (send_json(fd, json_pack("{s:s, s:i}", "msg", "running", "pid", (int)getpid()),
			      &ignore) < 0)
			LOG_WRN("migration: could not say \"running\": %s", ignore.msg);
	}
run:
	rc = 0;
	atomic_store(&m->state, MIG_RUNNING);
	LOG_INF("migration: %llu pages received, state restored; running the guest",
		(unsigned long long)m->pages_sent);
	goto out;
refused:
	refuse(fd, e);
out:
	json_decref(hello);
	json_decref(sm);
	json_decref(go);
	close(fd);
	m->fd = -1;
	return rc;
}

/* ---- control socket ------------------------------------------------------------ */

struct json_t *migration_ctl_start(struct vmx *x, struct json_t *req, const char **err)
{
	static _Thread_local char msg[600];
	struct migration *m = &x->mig;
	const char *peer = json_string_value(json_object_get(req, "peer"));
	const char *token = json_string_value(json_object_get(req, "token"));
	struct verr e = { "" };

	if (!peer || !peer[0] || strlen(peer) >= sizeof(m->peer)) {
		*err = "field \"peer\" (HOST:PORT of the receiving vmx) is missing or too long";
		return NULL;
	}
	if (!token || strlen(token) < 16 || strlen(token) > 255) {
		*err = "field \"token\" (16 to 255 characters, the receiver's) is missing";
		return NULL;
	}
	if ((*err = vmx_move_refusal(x)))
		return NULL;
	if (m->thread_started) {
		/* A failed pre-copy's thread has ended; collect it. */
		pthread_join(m->thread, NULL);
		m->thread_started = false;
	}
	snprintf(m->peer, sizeof(m->peer), "%s", peer);
	uint64_t base, size;
	vm_ram(x->vm, &base, &size);
	m->npages = size >> 12;
	free(m->bits);
	m->bits = calloc((m->npages + 63) / 64 + 1, sizeof(uint64_t));
	if (!m->bits) {
		*err = "out of memory";
		return NULL;
	}
	/* Connected and compatible before anything is copied: a refusal costs nothing. */
	if (sender_hello(x, token, &e) < 0) {
		if (m->fd >= 0)
			close(m->fd);
		m->fd = -1;
		snprintf(msg, sizeof(msg), "%s", e.msg);
		set_error(x, msg);
		*err = msg;
		return NULL;
	}
	set_error(x, "");
	memset(&m->t, 0, sizeof(m->t));
	m->incoming = false;
	m->t.request = vmx_now_ns();
	atomic_store(&m->rounds, 0);
	atomic_store(&m->pages_sent, 0);
	atomic_store(&m->zero_pages, 0);
	atomic_store(&m->bytes_sent, 0);
	atomic_store(&m->state, MIG_PRECOPY);
	if (pthread_create(&m->thread, NULL, precopy_main, x) != 0) {
		close(m->fd);
		m->fd = -1;
		atomic_store(&m->state, MIG_FAILED);
		*err = "cannot start the migration thread";
		return NULL;
	}
	m->thread_started = true;
	LOG_INF("control socket: migration to %s (%s build) started", peer, m->peer_build);
	return json_pack("{s:s, s:s}", "peer", peer, "peerBuildType", m->peer_build);
}

struct json_t *migration_ctl_status(struct vmx *x, struct json_t *req, const char **err)
{
	struct migration *m = &x->mig;
	char msg[sizeof(m->error)];
	int s = atomic_load(&m->state);

	(void)req;
	(void)err;
	mxuser_lock(&x->suspend_lock);
	memcpy(msg, m->error, sizeof(msg));
	mxuser_unlock(&x->suspend_lock);
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I}", "state",
			      mig_state_name(s), "role", m->incoming ? "incoming" : "outgoing",
			      "peer", m->peer, "peerBuildType", m->peer_build, "rounds",
			      (json_int_t)atomic_load(&m->rounds), "pagesSent",
			      (json_int_t)atomic_load(&m->pages_sent), "zeroPages",
			      (json_int_t)atomic_load(&m->zero_pages), "bytesSent",
			      (json_int_t)atomic_load(&m->bytes_sent), "remainingPages",
			      (json_int_t)atomic_load(&m->remaining));
	if (m->incoming)
		json_object_set_new(o, "lastRoundPages",
				    json_integer((json_int_t)atomic_load(&m->dirty_last)));
	if (m->incoming && m->t.run && m->t.stop)
		json_object_set_new(o, "downtimeMs", json_real((double)(m->t.run - m->t.stop) / 1e6));
	else if (!m->incoming && m->t.stop && m->t.sent)
		json_object_set_new(o, "pauseToSentMs",
				    json_real((double)(m->t.sent - m->t.stop) / 1e6));
	if (m->t.request)
		json_object_set_new(o, "elapsedMs", json_real((double)(vmx_now_ns() -
									m->t.request) / 1e6));
	if (msg[0])
		json_object_set_new(o, "error", json_string(msg));
	return o;
}

struct json_t *migration_ctl_resolve(struct vmx *x, struct json_t *req, const char **err)
{
	json_t *run = json_object_get(req, "runHere");
	if (!json_is_boolean(run)) {
		*err = "field \"runHere\" (true: the receiving vmx does not run the guest) is missing";
		return NULL;
	}
	if (atomic_load(&x->mig.state) != MIG_INDOUBT) {
		*err = "no migration is in doubt";
		return NULL;
	}
	atomic_store(&x->mig.resolve, json_is_true(run) ? 1 : 2);
	return json_pack("{s:b}", "runHere", json_is_true(run));
}
