/*
 * kstat.c - kstat names, thread attachment and the sampler (kstat.h); linked
 * into stats, opt and obj builds only.
 *
 * The sampler runs in one thread (the stats thread, or a test).  For each
 * attached slot it first asks the kernel how long the thread waited on a run
 * queue since the last sample (schedstat's run_delay): if that covers most of
 * the sample period the sample goes to HOST_SCHED, because what the vCPU was
 * "doing" then is waiting for a host CPU.  Otherwise the sample goes to the
 * current kstat, and to the node of the nested view for the whole stack.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "kstat.h"

struct kstat_vcpu kstat_vcpus[STATS_SLOTS];

static const char *const static_names[KSTAT_STATIC_COUNT] = {
#define KSTAT_NAME(n, d) #n,
	KSTATS(KSTAT_NAME)
#undef KSTAT_NAME
};
static const char *const static_descs[KSTAT_STATIC_COUNT] = {
#define KSTAT_DESC(n, d) d,
	KSTATS(KSTAT_DESC)
#undef KSTAT_DESC
};

/*
 * A plain pthread mutex, the one exception to "every lock is an MXUser
 * lock": MXUser's own statistics register their counters, kstats and
 * records through this registry, so an MXUser lock here would recurse.
 * It is a leaf: nothing else is taken while it is held.
 */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic unsigned reg_count = KSTAT_STATIC_COUNT;
static char reg_names[KSTAT_MAX][STATS_NAME_MAX];
static char *reg_descs[KSTAT_MAX];

/* Nested view: path nodes, written by the sampler, published through npaths. */
static _Atomic unsigned npaths;
static int path_parent[KSTAT_MAX_PATHS];
static uint16_t path_kstat[KSTAT_MAX_PATHS];
static uint64_t path_samples[STATS_SLOTS][KSTAT_MAX_PATHS];
#define PATH_HASH 4096
static int path_hash[PATH_HASH]; /* node + 1, 0 = empty */

/* Sampler-private: open schedstat files per slot. */
static int sched_fd[STATS_SLOTS] = { -1, -1, -1, -1, -1, -1, -1, -1, -1 };
static int sched_tid[STATS_SLOTS];

unsigned kstat_count(void) { return atomic_load(&reg_count); }

const char *kstat_name(unsigned id)
{
	if (id < KSTAT_STATIC_COUNT)
		return static_names[id];
	return id < kstat_count() ? reg_names[id] : "?";
}

const char *kstat_desc(unsigned id)
{
	if (id < KSTAT_STATIC_COUNT)
		return static_descs[id];
	return id < kstat_count() && reg_descs[id] ? reg_descs[id] : "";
}

int kstat_register(const char *name, const char *desc)
{
	int id = -ENOSPC;
	unsigned n;

	pthread_mutex_lock(&reg_lock);
	n = reg_count;
	for (unsigned i = 0; i < n; i++) {
		if (strcmp(kstat_name(i), name) == 0) {
			id = (int)i;
			goto out;
		}
	}
	if (n < KSTAT_MAX) {
		id = (int)n;
		snprintf(reg_names[n], STATS_NAME_MAX, "%s", name);
		reg_descs[n] = strdup(desc ? desc : "");
		atomic_store(&reg_count, n + 1);
	}
out:
	pthread_mutex_unlock(&reg_lock);
	return id;
}

void kstat_attach(unsigned slot)
{
	stats_set_slot(slot);
	atomic_store(&kstat_vcpus[stats_slot].tid, (int)syscall(SYS_gettid));
}

void kstat_detach(void)
{
	atomic_store(&kstat_vcpus[stats_slot].tid, 0);
}

void kstat_detach_all(void)
{
	int tid = (int)syscall(SYS_gettid);
	for (unsigned s = 0; s < STATS_SLOTS; s++)
		if (atomic_load(&kstat_vcpus[s].tid) == tid)
			atomic_store(&kstat_vcpus[s].tid, 0);
	stats_set_slot(STATS_SLOT_OTHER);
}

uint64_t kstat_invocations(unsigned slot, unsigned id)
{
	if (slot >= STATS_SLOTS || id >= KSTAT_MAX)
		return 0;
	return __atomic_load_n(&kstat_vcpus[slot].invocations[id], __ATOMIC_RELAXED);
}

uint64_t kstat_samples(unsigned slot, unsigned id)
{
	if (slot >= STATS_SLOTS || id >= KSTAT_MAX)
		return 0;
	return __atomic_load_n(&kstat_vcpus[slot].samples[id], __ATOMIC_RELAXED);
}

uint64_t kstat_total_samples(unsigned slot)
{
	uint64_t t = 0;
	for (unsigned k = 0; k < KSTAT_MAX; k++)
		t += kstat_samples(slot, k);
	return t;
}

unsigned kstat_npaths(void) { return atomic_load_explicit(&npaths, memory_order_acquire); }

void kstat_path(unsigned node, int *parent, unsigned *kstat)
{
	*parent = node < kstat_npaths() ? path_parent[node] : -1;
	*kstat = node < kstat_npaths() ? path_kstat[node] : 0;
}

uint64_t kstat_path_samples(unsigned slot, unsigned node)
{
	if (slot >= STATS_SLOTS || node >= KSTAT_MAX_PATHS)
		return 0;
	return __atomic_load_n(&path_samples[slot][node], __ATOMIC_RELAXED);
}

/* Node for (parent, kstat), created on first use; -1 when the table is full. */
static int path_node(int parent, unsigned kstat)
{
	unsigned h = ((unsigned)(parent + 1) * 2654435761u ^ kstat * 40503u) % PATH_HASH;
	unsigned n;

	for (unsigned probe = 0; probe < PATH_HASH; probe++, h = (h + 1) % PATH_HASH) {
		int e = path_hash[h] - 1;
		if (e < 0)
			break;
		if (path_parent[e] == parent && path_kstat[e] == kstat)
			return e;
	}
	n = atomic_load_explicit(&npaths, memory_order_relaxed);
	if (n >= KSTAT_MAX_PATHS || path_hash[h] != 0)
		return -1;
	path_parent[n] = parent;
	path_kstat[n] = (uint16_t)kstat;
	path_hash[h] = (int)n + 1;
	atomic_store_explicit(&npaths, n + 1, memory_order_release);
	return (int)n;
}

/* Run-queue wait of tid in ns (schedstat's second field); 0 when unavailable. */
static uint64_t run_delay_ns(unsigned slot, int tid)
{
	char path[64], buf[128];
	unsigned long long run, wait;
	ssize_t n;

	if (sched_tid[slot] != tid) {
		if (sched_fd[slot] >= 0)
			close(sched_fd[slot]);
		snprintf(path, sizeof(path), "/proc/self/task/%d/schedstat", tid);
		sched_fd[slot] = open(path, O_RDONLY | O_CLOEXEC);
		sched_tid[slot] = tid;
	}
	if (sched_fd[slot] < 0)
		return 0;
	n = pread(sched_fd[slot], buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	if (sscanf(buf, "%llu %llu", &run, &wait) != 2)
		return 0;
	return wait;
}

/*
 * Path nodes are created by whichever thread charges (the stats thread, or
 * a self-sampling thread in its signal handler): a try-lock, never a wait,
 * since a signal handler must not block.  A charge that finds it taken
 * counts in the flat table only.
 */
static atomic_flag path_lock = ATOMIC_FLAG_INIT;

static void charge(unsigned slot, const uint16_t *stack, unsigned n, unsigned cur, uint64_t count)
{
	struct kstat_vcpu *v = &kstat_vcpus[slot];
	int node = -1;

	if (cur >= KSTAT_MAX)
		cur = KSTAT_NONE;
	__atomic_store_n(&v->samples[cur], v->samples[cur] + count, __ATOMIC_RELAXED);
	if (atomic_flag_test_and_set_explicit(&path_lock, memory_order_acquire))
		return;
	for (unsigned i = 0; i < n && node >= -1; i++) {
		node = path_node(node, stack[i] < KSTAT_MAX ? stack[i] : KSTAT_NONE);
		if (node < 0)
			goto out;
	}
	node = path_node(node, cur);
	if (node >= 0)
		__atomic_store_n(&path_samples[slot][node], path_samples[slot][node] + count,
				 __ATOMIC_RELAXED);
out:
	atomic_flag_clear_explicit(&path_lock, memory_order_release);
}

/* Charges one sample of slot v's current kstat and stack, `count` times. */
static void charge_current(unsigned s, uint64_t count)
{
	struct kstat_vcpu *v = &kstat_vcpus[s];
	uint16_t stack[KSTAT_DEPTH + 1];
	uint64_t w = atomic_load_explicit(&v->levels, memory_order_relaxed);
	unsigned base = atomic_load_explicit(&v->base, memory_order_relaxed);
	unsigned n = 0;

	if (!w) {
		charge(s, NULL, 0, base, count);
		return;
	}
	/* Outermost first: the base, then the pushed levels above the current one. */
	stack[n++] = (uint16_t)base;
	for (int i = KSTAT_DEPTH - 1; i >= 1; i--) {
		unsigned b = (unsigned)(w >> (8 * i)) & 0xff;
		if (b)
			stack[n++] = (uint16_t)(b - 1);
	}
	charge(s, stack, n, kstat_cur_of(w, base), count);
}

/*
 * Self-sampling threads: their tid (0 = free entry), their schedstat file
 * and the run-queue wait seen at their last tick.  An entry is written by
 * kstat_self_begin on its own thread and read by that thread's handler; the
 * stats thread only reads the tids.
 */
#define SELF_MAX 8
static struct {
	_Atomic int tid;
	int fd;
	uint64_t last_delay_ns;
} self_ent[SELF_MAX];
static _Thread_local int self_idx = -1;

static bool is_self_tid(int tid)
{
	for (unsigned i = 0; i < SELF_MAX; i++)
		if (atomic_load_explicit(&self_ent[i].tid, memory_order_relaxed) == tid)
			return true;
	return false;
}

/* schedstat's second field (run-queue wait, ns) with read(2) only: async-signal-safe. */
static bool read_delay(int fd, uint64_t *out)
{
	char buf[96];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	unsigned i = 0;
	uint64_t v = 0;

	if (n <= 0)
		return false;
	buf[n] = 0;
	while (buf[i] >= '0' && buf[i] <= '9')
		i++;
	if (buf[i] != ' ')
		return false;
	for (i++; buf[i] >= '0' && buf[i] <= '9'; i++)
		v = v * 10 + (uint64_t)(buf[i] - '0');
	*out = v;
	return true;
}

int kstat_self_begin(void)
{
	int tid = (int)syscall(SYS_gettid), fd;

	if (self_idx >= 0)
		return 0;
	fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (unsigned i = 0; i < SELF_MAX; i++) {
		int zero = 0;
		if (!atomic_compare_exchange_strong(&self_ent[i].tid, &zero, tid))
			continue;
		self_ent[i].fd = fd;
		if (!read_delay(fd, &self_ent[i].last_delay_ns))
			self_ent[i].last_delay_ns = 0;
		self_idx = (int)i;   /* last: the handler uses the entry from here on */
		return 0;
	}
	close(fd);
	return -ENOSPC;
}

void kstat_sample_self(unsigned ticks)
{
	const uint64_t period_ns = 1000000000ull / KSTAT_HZ;
	int i = self_idx, tid;
	uint64_t delay, sched = 0;

	if (i < 0 || !ticks || !(tid = atomic_load_explicit(&self_ent[i].tid, memory_order_relaxed)))
		return;
	/* Ticks the thread spent on a run queue, rounded as the stats thread's sampler rounds. */
	if (read_delay(self_ent[i].fd, &delay)) {
		if (self_ent[i].last_delay_ns && delay > self_ent[i].last_delay_ns)
			sched = (delay - self_ent[i].last_delay_ns + period_ns / 2) / period_ns;
		self_ent[i].last_delay_ns = delay;
	}
	if (sched > ticks)
		sched = ticks;
	for (unsigned s = 0; s < STATS_SLOTS; s++) {
		if (atomic_load_explicit(&kstat_vcpus[s].tid, memory_order_relaxed) != tid)
			continue;
		if (sched)
			charge(s, NULL, 0, KSTAT_HOST_SCHED, sched);
		if (ticks > sched)
			charge_current(s, ticks - sched);
	}
}

void kstat_self_end(void)
{
	int i = self_idx;
	if (i < 0)
		return;
	/* The handler stops using the entry before it goes. */
	self_idx = -1;
	atomic_signal_fence(memory_order_seq_cst);
	if (atomic_exchange(&self_ent[i].tid, 0))
		close(self_ent[i].fd);
}

void kstat_self_end_all(void)
{
	for (unsigned i = 0; i < SELF_MAX; i++) {
		if (!atomic_exchange(&self_ent[i].tid, 0))
			continue;
		close(self_ent[i].fd);
		self_ent[i].fd = -1;
	}
	/* Only the calling thread's index can be reset here; others see tid 0 and stop. */
	self_idx = -1;
}

bool kstat_self_covers(void)
{
	for (unsigned s = 0; s < STATS_SLOTS; s++) {
		int tid = atomic_load_explicit(&kstat_vcpus[s].tid, memory_order_relaxed);
		if (tid && !is_self_tid(tid))
			return false;
	}
	return true;
}

void kstat_sample_once(void)
{
	const uint64_t period_ns = 1000000000ull / KSTAT_HZ;

	for (unsigned s = 0; s < STATS_SLOTS; s++) {
		struct kstat_vcpu *v = &kstat_vcpus[s];
		uint64_t delay;
		int tid = atomic_load(&v->tid);

		/* A self-sampling thread's slots are charged by its own tick. */
		if (!tid || is_self_tid(tid))
			continue;
		delay = run_delay_ns(s, tid);
		if (v->last_run_delay_ns && delay - v->last_run_delay_ns > period_ns / 2) {
			v->last_run_delay_ns = delay;
			charge(s, NULL, 0, KSTAT_HOST_SCHED, 1);
			continue;
		}
		v->last_run_delay_ns = delay;
		charge_current(s, 1);
	}
}

void kstat_report(FILE *f)
{
	unsigned nk = kstat_count();
	fprintf(f, "%-20s %8s %12s %10s\n", "kstat", "vcpu", "invocations", "samples");
	for (unsigned k = 0; k < nk; k++)
		for (unsigned s = 0; s < STATS_SLOTS; s++) {
			uint64_t i = kstat_invocations(s, k), n = kstat_samples(s, k);
			if (i || n)
				fprintf(f, "%-20s %8u %12llu %10llu\n", kstat_name(k), s,
					(unsigned long long)i, (unsigned long long)n);
		}
}

void kstat_reset(void)
{
	for (unsigned s = 0; s < STATS_SLOTS; s++) {
		struct kstat_vcpu *v = &kstat_vcpus[s];
		memset(v->invocations, 0, sizeof(v->invocations));
		memset(v->samples, 0, sizeof(v->samples));
		v->last_run_delay_ns = 0;
	}
	memset(path_samples, 0, sizeof(path_samples));
	memset(path_hash, 0, sizeof(path_hash));
	atomic_store(&npaths, 0);
}
