/*
 * vcpu.c - one host thread per vCPU.
 *
 * While a VM with more than one hart runs outside deterministic mode (and
 * monitor.vcpuThreads is not FALSE), each hart runs on a thread of its own
 * in slices of VM_SLICE_INSNS instructions and, after each slice, evaluates
 * its own timers (its CLINT MTIP, its Sstc STIP) and flushes console output.
 * A hart in WFI with nothing pending sleeps on a futex until an interrupt
 * line changes, its timer deadline passes or the run ends: it never spins.
 *
 * The thread that called vm_run becomes the board thread: it serves console
 * input, the devices' host I/O and the shutdown keys, and waits in ppoll
 * for stop and power-off requests.  Every way out of the run (a result, a
 * stop, a power-off) parks the vCPU threads the same way: the park flag,
 * a kick that makes each leave hart_run at its next block boundary, a wake
 * for those asleep, then a join.  So checkpoint, suspend, hand-over and
 * migration, which run after vm_run returns, always find every vCPU
 * stopped at an instruction boundary and no thread running guest code.
 *
 * Deterministic mode keeps the single-thread round-robin of vm.c: which
 * hart runs when must not depend on the host's scheduler there.
 */
#include <errno.h>
#include <linux/futex.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "board_int.h"
#include "../devices/clint.h"
#include "../devices/uart.h"
#include "../lib/log.h"
#include "../stats/callstack.h"
#include "../stats/kstat.h"
#include "../stats/stats.h"
#include "../debug/dbg.h"
#include "../cpu/hart_state.h"

#define BOARD_IDLE_NS   100000000ULL   /* the board thread looks around at least every 100 ms */
#define BOARD_BUSY_NS   2000000ULL     /* ... every 2 ms while console input or shutdown keys wait */
#define WFI_MAX_NS      1000000000ULL  /* a sleeping hart with no deadline still looks once a second */

/*
 * Also one thread in the translator's differential mode (opt/obj): it runs
 * a block twice from one state, which another hart writing memory between
 * the two runs would make differ.
 */
bool board_threaded(const struct vm *vm, uint64_t limit)
{
	return vm->vc.vcpu_threads && !vm->vc.deterministic && vm->nharts > 1 &&
	       limit == UINT64_MAX && !dbg_jit_diff();
}

static long futex(_Atomic uint32_t *w, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, (uint32_t *)w, op, val, ts, NULL, 0);
}

/*
 * The waker changes the interrupt line first, then bumps wake_seq and looks
 * at sleeping; the sleeper reads wake_seq, sets sleeping, then looks at its
 * interrupts.  Either the sleeper sees the line, or the futex sees a new
 * wake_seq, or the waker sees sleeping and wakes it.
 */
void board_vcpu_wake(struct vm *vm, unsigned i)
{
	struct vcpu *v = &vm->vcpus[i];
	atomic_fetch_add(&v->wake_seq, 1);
	if (atomic_load(&v->sleeping))
		futex(&v->wake_seq, FUTEX_WAKE_PRIVATE, 1, NULL);
}

/*
 * This hart's timers against mtime now: MTIP from the CLINT, STIP from
 * stimecmp.  After nearly every slice MTIP is already right, so the CLINT's
 * lock is taken only when the line must move.
 */
static void vcpu_timers(struct vm *vm, unsigned i)
{
	struct hart *h = vm->harts[i];
	uint64_t now = clint_mtime(vm->clint);
	bool level = now >= clint_hart_deadline(vm->clint, i);
	if (level != !!(__atomic_load_n(&hart_state(h)->mip, __ATOMIC_RELAXED) & MIP_MTIP)) {
		mxuser_lock(&vm->clint_dev->lock);
		clint_update_hart(vm->clint, i);
		mxuser_unlock(&vm->clint_dev->lock);
	}
	hart_update_timer(h, now);
}

/* WFI with nothing pending: sleep until an interrupt line moves, the deadline or a park. */
static void vcpu_sleep(struct vm *vm, struct vcpu *v, struct hart *h)
{
	uint32_t seq = atomic_load(&v->wake_seq);
	atomic_store(&v->sleeping, true);
	if (!hart_irq_pending(h) && !atomic_load(&vm->park)) {
		uint64_t deadline = clint_hart_deadline(vm->clint, v->idx);
		uint64_t d = hart_timer_deadline(h);
		if (d < deadline)
			deadline = d;
		uint64_t now = clint_mtime(vm->clint);
		if (deadline > now) {
			uint64_t ns = WFI_MAX_NS;
			if (deadline != UINT64_MAX && (deadline - now) < WFI_MAX_NS / BOARD_NS_PER_TICK)
				ns = (deadline - now) * BOARD_NS_PER_TICK;
			struct timespec ts = { (time_t)(ns / 1000000000ULL), (long)(ns % 1000000000ULL) };
			kstat_set(KSTAT_IDLE_WFI);
			STAT_INC(VCPU_SLEEP);
			futex(&v->wake_seq, FUTEX_WAIT_PRIVATE, seq, &ts);
		}
	}
	atomic_store(&v->sleeping, false);
	vcpu_timers(vm, v->idx);
}

static void *vcpu_main(void *arg)
{
	struct vcpu *v = arg;
	struct vm *vm = v->vm;
	unsigned i = v->idx;
	struct hart *h = vm->harts[i];
	bool idle = vm->idle[i];
	struct verr e = { 0 };

	atomic_store_explicit(&v->instret, hart_instret(h), memory_order_relaxed);
	/* Stats build: this thread's counters, kstats and profiler ticks are vCPU i's. */
	kstat_attach(i);
	kstat_start(idle ? KSTAT_IDLE_WFI : KSTAT_GUEST);
	if (cs_vcpu_attach(i, &e) < 0)
		LOG_WRN("vCPU %u: %s", i, e.msg);
	/* Published for the callstack sampler's signal handler. */
	hart_current = h;
	while (!atomic_load_explicit(&vm->park, memory_order_acquire)) {
		if (idle) {
			if (!hart_irq_pending(h)) {
				vcpu_sleep(vm, v, h);
				continue;
			}
			idle = false;
		}
		idle = board_run_slice(vm, h, VM_SLICE_INSNS);
		kstat_set(KSTAT_BOARD);
		atomic_store_explicit(&v->instret, hart_instret(h), memory_order_relaxed);
		dbg_check_hart(hart_state(h));
		vcpu_timers(vm, i);
		if (uart_tx_pending(vm->uart))
			board_flush_uart(vm);
	}
	/* What a checkpoint saves as "waits in WFI" (vm_ckpt.c). */
	vm->idle[i] = idle;
	hart_current = NULL;
	cs_vcpu_detach();
	kstat_detach();
	stats_set_slot(STATS_SLOT_OTHER);
	return NULL;
}

/* Parks and joins the first n vCPU threads. */
static void park_all(struct vm *vm, unsigned n)
{
	atomic_store_explicit(&vm->park, true, memory_order_release);
	for (unsigned i = 0; i < n; i++) {
		hart_kick(vm->harts[i]);
		board_vcpu_wake(vm, i);
	}
	for (unsigned i = 0; i < n; i++) {
		int rc = pthread_join(vm->vcpus[i].thread, NULL);
		if (rc)
			LOG_ERR("vCPU %u: pthread_join: %s", i, strerror(rc));
		vm->vcpus[i].started = false;
	}
}

enum vm_result board_run_threads(struct vm *vm)
{
	enum vm_result r;
	unsigned n;

	atomic_store(&vm->park, false);
	stats_set_slot(STATS_SLOT_OTHER);
	for (n = 0; n < vm->nharts; n++) {
		struct vcpu *v = &vm->vcpus[n];
		v->vm = vm;
		v->idx = n;
		int rc = pthread_create(&v->thread, NULL, vcpu_main, v);
		if (rc) {
			LOG_ERR("vCPU %u: cannot start its thread: %s", n, strerror(rc));
			break;
		}
		v->started = true;
	}
	if (n < vm->nharts) {
		park_all(vm, n);
		/* Nothing lost: the harts stopped at instruction boundaries. */
		return VM_RESULT_STOPPED;
	}
	vm->threaded = true;
	/* Between wakes this thread is the board; the callstack sampler reads it here. */
	kstat_set(KSTAT_BOARD);
	for (;;) {
		if (board_take_result(vm, &r))
			break;
		if (atomic_exchange(&vm->stop_req, false)) {
			r = VM_RESULT_STOPPED;
			break;
		}
		if (atomic_exchange(&vm->poweroff_req, false)) {
			LOG_INF("power off requested by the host");
			r = VM_RESULT_POWEROFF;
			break;
		}
		board_serve(vm);
		cs_devel_tick();
		board_wait(vm, vm->con.pend_len || vm->shutdown_stage ? BOARD_BUSY_NS : BOARD_IDLE_NS);
	}
	park_all(vm, vm->nharts);
	vm->threaded = false;
	board_flush_uart(vm);
	return r;
}
