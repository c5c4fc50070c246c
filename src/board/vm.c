/*
 * vm.c - the board: creates RAM, harts and the devices of the registration
 * table, loads the guest, and runs the harts in slices of VM_SLICE_INSNS
 * instructions: round-robin on the calling thread here, or one thread per
 * vCPU (vcpu.c) when the VM has several and is not deterministic.
 *
 * Between slices the board re-evaluates the timers (CLINT MTIP and each
 * hart's Sstc STIP), flushes console output, feeds console input and lets
 * devices with host I/O (a NIC's backend) serve it.  When every hart waits
 * in WFI with nothing pending it sleeps in ppoll on the stop eventfd, the
 * console and those devices' fds until the earliest timer deadline, so an
 * idle guest costs no host CPU.
 *
 * Beta builds check each hart's state after its slice (dbg_check_hart) and,
 * after every round's timer update, that the interrupt lines the devices
 * drive agree with each hart's mip (DBG_CHECK "irq-lines").
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>
#include "board_int.h"
#include "../devices/clint.h"
#include "../devices/plic.h"
#include "../devices/uart.h"
#include "../lib/log.h"
#include "../stats/callstack.h"
#include "../stats/kstat.h"
#include "../stats/stats.h"
#include "../debug/dbg.h"
#include "../cpu/hart_state.h"

#define INPUT_POLL_NS   2000000ULL    /* look at console input every 2 ms of run time */
#define DET_INSNS_PER_TICK 100        /* deterministic time: 1 GIPS against 10 MHz */
#define NS_PER_TICK     BOARD_NS_PER_TICK

uint64_t board_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t total_instret(const struct vm *vm)
{
	uint64_t n = 0;
	for (unsigned h = 0; h < vm->nharts; h++)
		n += hart_instret(vm->harts[h]);
	return n;
}

/* Time sources for the CLINT, in DEV_TIMEBASE_HZ ticks. */
static uint64_t time_host(struct vm *vm)
{
	return (board_now_ns() - vm->start_ns) / NS_PER_TICK;
}

static uint64_t time_insns(struct vm *vm)
{
	return total_instret(vm) / DET_INSNS_PER_TICK + vm->idle_skip;
}

/* dev_env callbacks */
static void env_cpu_irq(void *ctx, unsigned hart, uint64_t mask, bool level)
{
	struct vm *vm = ctx;
	if (hart < vm->nharts && vm->harts[hart]) {
		uint64_t old = hart_set_irq(vm->harts[hart], mask, level);
		/* Stats: a crosscall starts when a software interrupt goes up. */
		if (VMX_STATS && (mask & MIP_MSIP) && level && !(old & MIP_MSIP))
			stats_ipi_sent(hart_current ? hart_id(hart_current) : STATS_SLOT_OTHER, hart);
		/* A hart asleep in WFI on its own thread looks again (a new mtimecmp too). */
		board_vcpu_wake(vm, hart);
	}
}

/* Devices raise their line holding their own lock; the PLIC's ranks above. */
static void env_irq(void *ctx, unsigned line, bool level)
{
	struct vm *vm = ctx;
	if (vm->plic) {
		mxuser_lock(&vm->plic_dev->lock);
		plic_set_irq(vm->plic, line, level);
		mxuser_unlock(&vm->plic_dev->lock);
	}
}

static uint64_t env_time(void *ctx)
{
	struct vm *vm = ctx;
	return vm->time_source(vm);
}

static void kick_all(struct vm *vm)
{
	for (unsigned h = 0; h < vm->nharts; h++)
		if (vm->harts[h])
			hart_kick(vm->harts[h]);
}

/* Any vCPU thread may end the run: the first result counts. */
void board_finish(struct vm *vm, enum vm_result r)
{
	bool no = false;
	if (!atomic_compare_exchange_strong(&vm->result_claimed, &no, true))
		return;
	vm->result = r;
	atomic_store_explicit(&vm->result_set, true, memory_order_release);
	kick_all(vm);
	board_wake(vm);
}

bool board_take_result(struct vm *vm, enum vm_result *r)
{
	if (!atomic_load_explicit(&vm->result_set, memory_order_acquire))
		return false;
	*r = vm->result;
	atomic_store(&vm->result_set, false);
	atomic_store(&vm->result_claimed, false);
	return true;
}

void board_wake(struct vm *vm)
{
	uint64_t one = 1;
	if (write(vm->evfd, &one, sizeof(one)) < 0) {
		/* The counter is already non-zero: the board is awake anyway. */
	}
}

static void env_power(void *ctx, enum dev_power what, uint32_t code)
{
	struct vm *vm = ctx;
	switch (what) {
	case DEV_POWER_OFF:
		LOG_INF("guest powered off");
		board_finish(vm, VM_RESULT_POWEROFF);
		break;
	case DEV_POWER_RESET:
		LOG_INF("guest asked for a reset");
		board_finish(vm, VM_RESULT_RESET);
		break;
	case DEV_POWER_FAIL:
		LOG_WRN("guest powered off reporting failure code %u", code);
		vm->tohost_code = code;
		board_finish(vm, VM_RESULT_POWEROFF);
		break;
	}
}

/* What the harts read as `time`: the CLINT's mtime. */
static uint64_t plat_time(void *ctx)
{
	struct vm *vm = ctx;
	return vm->clint ? clint_mtime(vm->clint) : vm->time_source(vm);
}

static struct device *find_dev(struct vm *vm, const struct device_type *t)
{
	for (unsigned i = 0; i < vm->ndevs; i++)
		if (vm->devs[i].type == t)
			return &vm->devs[i];
	return NULL;
}

static int create_devices(struct vm *vm, struct verr *e)
{
	int r;
	for (const struct device_type *const *t = device_types; *t; t++) {
		unsigned n = (*t)->count(&vm->vc);
		for (unsigned i = 0; i < n; i++) {
			struct device *d;
			if (vm->ndevs == VM_MAX_DEVICES)
				return verr_set(e, -ENOSPC, "too many devices");
			d = &vm->devs[vm->ndevs];
			memset(d, 0, sizeof(*d));
			d->type = *t;
			d->idx = i;
			snprintf(d->name, sizeof(d->name), "%s%u", (*t)->name, i);
			if ((r = mxuser_lock_init(&d->lock, d->name,
						  (*t)->lock_rank ? (*t)->lock_rank
								  : MXUSER_RANK_DEVICE)) < 0)
				return verr_set(e, r, "%s: cannot create its lock", d->name);
			if ((r = (*t)->create(d, &vm->env, &vm->vc, i, e)) < 0) {
				mxuser_lock_destroy(&d->lock);
				return r;
			}
			vm->ndevs++;
			if ((r = bus_map_locked(&vm->bus, d->name, d->base, d->size, (*t)->mmio,
						d->priv, &d->lock)) < 0)
				return verr_set(e, r, "%s: cannot map %#llx+%#llx", d->name,
						(unsigned long long)d->base, (unsigned long long)d->size);
		}
	}
	for (unsigned i = 0; i < vm->ndevs; i++)
		if (vm->devs[i].type->poll)
			vm->polldevs[vm->npoll++] = &vm->devs[i];
	struct device *d;
	vm->plic = (vm->plic_dev = d = find_dev(vm, &dev_type_plic)) ? d->priv : NULL;
	vm->clint = (vm->clint_dev = d = find_dev(vm, &dev_type_clint)) ? d->priv : NULL;
	vm->uart = (vm->uart_dev = d = find_dev(vm, &dev_type_uart)) ? d->priv : NULL;
	if (!vm->plic || !vm->clint || !vm->uart)
		return verr_set(e, -EINVAL, "board: PLIC, CLINT or UART missing from the device table");
	return 0;
}

static void reset_harts(struct vm *vm)
{
	for (unsigned h = 0; h < vm->nharts; h++) {
		hart_reset(vm->harts[h], vm->lay.entry);
		hart_set_xreg(vm->harts[h], 10, h);                  /* a0: hart id */
		hart_set_xreg(vm->harts[h], 11, vm->lay.fdt_addr);   /* a1: device tree */
		hart_set_xreg(vm->harts[h], 12, vm->lay.fw_info_addr); /* a2: fw_dynamic_info */
		vm->idle[h] = false;
	}
	/*
	 * A bare-metal ELF starts on every hart at its entry, as on QEMU's
	 * virt and spike machines without firmware: its start-up code tells
	 * the harts apart by mhartid (tests/isa/common/crt0.S parks all but
	 * hart 0 unless the test has work for them).
	 */
}

int vm_create(struct vm **out, const struct vm_config *vc, struct verr *e)
{
	struct vm *vm;
	int r;

	*out = NULL;
	if (vc->numvcpus < 1 || vc->numvcpus > VM_MAX_HARTS)
		return verr_set(e, -EINVAL, "numvcpus %u: must be 1..%u", vc->numvcpus, VM_MAX_HARTS);
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return verr_set(e, -ENOMEM, "out of memory");
	vm->vc = *vc;
	vm->nharts = vc->numvcpus;
	vm->ram.memfd = -1;
	vm->con.in_fd = -1;
	vm->start_ns = board_now_ns();
	vm->time_source = vc->deterministic ? time_insns : time_host;
	vm->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->evfd < 0) {
		r = verr_set(e, -errno, "eventfd: %s", strerror(errno));
		goto fail;
	}
	int ramfd = vm_config_dup_fd(vc, "ram");
	if (ramfd >= 0) {
		/* Handed over: the other vmx's guest RAM, mapped as it stands. */
		struct stat st;
		if (fstat(ramfd, &st) < 0 || (uint64_t)st.st_size != vc->mem_size) {
			r = verr_set(e, -EINVAL, "handed-over guest RAM is %llu MiB, memSize says %llu MiB",
				     (unsigned long long)(st.st_size >> 20),
				     (unsigned long long)(vc->mem_size >> 20));
			close(ramfd);
			goto fail;
		}
		if (vc->elf[0] || !vc->resume) {
			r = verr_set(e, -EINVAL, "handed-over guest RAM needs a Linux guest being resumed");
			close(ramfd);
			goto fail;
		}
		if ((r = ram_attach(&vm->ram, RAM_DEFAULT_BASE, vc->mem_size, ramfd, e)) < 0) {
			close(ramfd);
			goto fail;
		}
	} else if (ramfd != -ENOENT) {
		r = verr_set(e, ramfd, "handed-over guest RAM: %s", strerror(-ramfd));
		goto fail;
	} else if ((r = ram_create(&vm->ram, RAM_DEFAULT_BASE, vc->mem_size, e)) < 0) {
		goto fail;
	}
	bus_init(&vm->bus, &vm->ram);

	vm->plat = (struct hart_platform){
		.bus = &vm->bus, .time = plat_time, .ctx = vm, .timebase_hz = DEV_TIMEBASE_HZ,
		.translate = vc->translate,
	};
	vm->env = (struct dev_env){
		.bus = &vm->bus, .nharts = vm->nharts, .cpu_irq = env_cpu_irq, .irq = env_irq,
		.time = env_time, .power = env_power, .ctx = vm,
	};
	if ((r = create_devices(vm, e)) < 0)
		goto fail;
	if ((r = board_load(vm, e)) < 0)
		goto fail;
	vm->plat.tohost = vm->lay.tohost;
	for (unsigned h = 0; h < vm->nharts; h++)
		if ((r = hart_create(&vm->harts[h], h, &vm->plat, e)) < 0)
			goto fail;
	reset_harts(vm);
	for (unsigned i = 0; i < vm->ndevs; i++)
		vm->devs[i].type->reset(&vm->devs[i]);
	if ((r = console_open(&vm->con, vc, e)) < 0)
		goto fail;
	LOG_INF("board: %u hart(s), %llu MiB RAM, %u disk(s), entry %#llx, fdt %#llx%s",
		vm->nharts, (unsigned long long)(vm->ram.size >> 20), vc->ndisks,
		(unsigned long long)vm->lay.entry, (unsigned long long)vm->lay.fdt_addr,
		vc->deterministic ? ", deterministic time" : "");
	if (vm->lay.initrd_end)
		LOG_INF("board: initrd %#llx-%#llx", (unsigned long long)vm->lay.initrd_start,
			(unsigned long long)vm->lay.initrd_end);
	*out = vm;
	return 0;
fail:
	vm_destroy(vm);
	return r;
}

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	console_close(&vm->con);
	/* Devices first: their destroy flushes output and closes disks. */
	for (unsigned i = vm->ndevs; i-- > 0;) {
		vm->devs[i].type->destroy(&vm->devs[i]);
		mxuser_lock_destroy(&vm->devs[i].lock);
	}
	vm->plic = NULL;
	vm->clint = NULL;
	vm->uart = NULL;
	for (unsigned h = 0; h < vm->nharts; h++)
		if (vm->harts[h])
			hart_destroy(vm->harts[h]);
	if (vm->ram.memfd >= 0)
		ram_destroy(&vm->ram);
	if (vm->evfd >= 0)
		close(vm->evfd);
	free(vm);
}

/* A hart stopped for tohost: the test's result or an HTIF console byte. */
static void board_handle_tohost(struct vm *vm, struct hart *h)
{
	uint64_t v = hart_tohost_value(h);
	if (v & 1) {
		vm->tohost_code = v >> 1;
		board_finish(vm, VM_RESULT_TOHOST);
	} else if ((v >> 56) == 1 && ((v >> 48) & 0xff) == 1) {
		/* HTIF console putchar (device 1, command 1). */
		uint8_t c = (uint8_t)v;
		if (write(STDOUT_FILENO, &c, 1) < 0)
			LOG_DBG("htif putchar: %s", strerror(errno));
	}
}

/*
 * A graceful shutdown without a guest agent: the serial console's magic SysRq
 * (a BREAK, then a key), which Debian's kernel enables for sync (s), remount
 * read-only (u) and power off (o).  One key a second of guest time, so the
 * sync and remount finish before the power goes.
 */
static void shutdown_step(struct vm *vm, uint64_t now)
{
	static const char keys[] = "suo";
	if (atomic_exchange(&vm->shutdown_req, false) && !vm->shutdown_stage) {
		vm->shutdown_stage = 1;
		vm->shutdown_next = now;
		LOG_INF("shutdown: asking the guest to power off (serial SysRq s, u, o)");
	}
	if (!vm->shutdown_stage || now < vm->shutdown_next || uart_rx_room(vm->uart) < 2)
		return;
	uint8_t key = (uint8_t)keys[vm->shutdown_stage - 1];
	if (uart_rx_break(vm->uart))
		uart_rx_push(vm->uart, &key, 1);
	vm->shutdown_next = now + DEV_TIMEBASE_HZ;
	vm->shutdown_stage = vm->shutdown_stage < sizeof(keys) - 1 ? vm->shutdown_stage + 1 : 0;
}

/*
 * Beta: MEIP/SEIP as the PLIC would drive them, MSIP/MTIP as the CLINT would;
 * t0 is mtime read before clint_update().
 */
static void vm_check_lines(struct vm *vm, uint64_t t0)
{
	for (unsigned h = 0; h < vm->nharts; h++) {
		struct hart_state *s = hart_state(vm->harts[h]);
		/* Test knob (opt/obj): a software interrupt the CLINT never raised. */
		if (dbg_fault(DBG_FAULT_IRQ))
			hart_set_irq(vm->harts[h], MIP_MSIP,
				     !(__atomic_load_n(&s->mip, __ATOMIC_RELAXED) & MIP_MSIP));
		DBG_CHECK("irq-lines",
			  dbg_irq_lines_problem(__atomic_load_n(&s->mip, __ATOMIC_RELAXED), h,
						plic_state(vm->plic), clint_state(vm->clint), t0,
						clint_mtime(vm->clint)));
	}
}

static void shutdown_step_locked(struct vm *vm, uint64_t now)
{
	mxuser_lock(&vm->uart_dev->lock);
	shutdown_step(vm, now);
	mxuser_unlock(&vm->uart_dev->lock);
}

/* Host I/O of the devices that have some (a NIC's backend), each under its lock. */
static void serve_polls(struct vm *vm)
{
	for (unsigned i = 0; i < vm->npoll; i++) {
		struct device *d = vm->polldevs[i];
		mxuser_lock(&d->lock);
		d->type->poll(d);
		mxuser_unlock(&d->lock);
	}
}

/* Console input: read what the host has, hand the UART what its FIFO takes. */
static void serve_console(struct vm *vm)
{
	if (vm->con.in_fd >= 0) {
		uint64_t ns = board_now_ns();
		if (ns - vm->last_input_poll_ns >= INPUT_POLL_NS) {
			vm->last_input_poll_ns = ns;
			console_read(vm);
		}
	}
	if (vm->con.pend_len) {
		mxuser_lock(&vm->uart_dev->lock);
		size_t n = uart_rx_room(vm->uart);
		if (n > vm->con.pend_len)
			n = vm->con.pend_len;
		if (n) {
			uart_rx_push(vm->uart, vm->con.pend, n);
			memmove(vm->con.pend, vm->con.pend + n, vm->con.pend_len - n);
			vm->con.pend_len -= n;
		}
		mxuser_unlock(&vm->uart_dev->lock);
	}
}

void board_flush_uart(struct vm *vm)
{
	mxuser_lock(&vm->uart_dev->lock);
	uart_flush(vm->uart);
	mxuser_unlock(&vm->uart_dev->lock);
}

void board_serve(struct vm *vm)
{
	shutdown_step_locked(vm, clint_mtime(vm->clint));
	serve_polls(vm);
	/* The harts' counters belong to their threads: add what they published. */
	uint64_t n = 0;
	for (unsigned h = 0; h < vm->nharts; h++)
		n += atomic_load_explicit(&vm->vcpus[h].instret, memory_order_relaxed);
	atomic_store_explicit(&vm->instret_pub, n, memory_order_relaxed);
	serve_console(vm);
}

/* Timers, console: what happens between rounds of the single-thread loop. */
static void vm_tick(struct vm *vm)
{
	uint64_t now = clint_mtime(vm->clint);
	shutdown_step_locked(vm, now);
	mxuser_lock(&vm->clint_dev->lock);
	clint_update(vm->clint);
	mxuser_unlock(&vm->clint_dev->lock);
	for (unsigned h = 0; h < vm->nharts; h++)
		hart_update_timer(vm->harts[h], now);
	board_flush_uart(vm);
	serve_polls(vm);
	atomic_store_explicit(&vm->instret_pub, total_instret(vm), memory_order_relaxed);
	serve_console(vm);
	if (VMX_DEBUG)
		vm_check_lines(vm, now);
}

/* Every hart idle: wait for the next timer deadline, input or a stop request. */
static void vm_idle(struct vm *vm)
{
	mxuser_lock(&vm->clint_dev->lock);
	uint64_t deadline = clint_next_deadline(vm->clint);
	mxuser_unlock(&vm->clint_dev->lock);
	for (unsigned h = 0; h < vm->nharts; h++) {
		uint64_t d = hart_timer_deadline(vm->harts[h]);
		if (d < deadline)
			deadline = d;
	}
	uint64_t now = clint_mtime(vm->clint);
	if (deadline <= now)
		return;
	if (vm->vc.deterministic) {
		/* Nothing can happen before the deadline but input: skip ahead. */
		if (deadline != UINT64_MAX) {
			vm->idle_skip += deadline - now;
			return;
		}
	}
	board_wait(vm, deadline == UINT64_MAX ? UINT64_MAX : (deadline - now) * NS_PER_TICK);
}

void board_wait(struct vm *vm, uint64_t timeout_ns)
{
	struct pollfd p[2 + VM_MAX_DEVICES] = {
		{ .fd = vm->evfd, .events = POLLIN },
		{ .fd = vm->con.in_fd, .events = POLLIN },
	};
	unsigned np = 2;
	struct timespec ts, *tp = NULL;
	if (timeout_ns != UINT64_MAX) {
		uint64_t ns = timeout_ns;
		if (ns > 1000000000ULL)
			ns = 1000000000ULL;
		ts.tv_sec = (time_t)(ns / 1000000000ULL);
		ts.tv_nsec = (long)(ns % 1000000000ULL);
		tp = &ts;
	}
	/* With our input buffer full, pending input must not wake us over and over. */
	if (!console_wants_input(&vm->con))
		p[1].fd = -1;   /* ppoll ignores negative fds */
	for (unsigned i = 0; i < vm->npoll; i++) {
		struct device *d = vm->polldevs[i];
		short ev = 0;
		int fd = -1;
		if (d->type->poll_fd) {
			mxuser_lock(&d->lock);
			fd = d->type->poll_fd(d, &ev);
			mxuser_unlock(&d->lock);
		}
		if (fd >= 0)
			p[np++] = (struct pollfd){ .fd = fd, .events = ev };
	}
	/* Stats build: the profiler's ticks wait until we wake (counted, not lost). */
	int n = ppoll(p, np, tp, cs_wait_sigmask());
	if (n > 0 && (p[0].revents & POLLIN)) {
		uint64_t v;
		if (read(vm->evfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			LOG_DBG("eventfd read: %s", strerror(errno));
	}
	/* Input is read by the next tick right away. */
	vm->last_input_poll_ns = 0;
}

bool board_run_slice(struct vm *vm, struct hart *h, uint64_t budget)
{
	bool idle = false;
	KSTAT_START(GUEST);
	STAT_INC(HART_RUN);
	switch (hart_run(h, budget)) {
	case HART_EXIT_WFI:
		STAT_INC(HART_WFI);
		idle = !hart_irq_pending(h);
		break;
	case HART_EXIT_TOHOST:
		board_handle_tohost(vm, h);
		break;
	case HART_EXIT_BUDGET:
	case HART_EXIT_STOP:
		break;
	}
	return idle;
}

static enum vm_result vm_loop(struct vm *vm, uint64_t limit)
{
	if (board_threaded(vm, limit))
		return board_run_threads(vm);
	uint64_t start = limit != UINT64_MAX ? total_instret(vm) : 0;
	/* Stats build: this thread runs every vCPU, so the kstat sampler samples each slot. */
	for (unsigned i = 0; i < vm->nharts; i++) {
		kstat_attach(i);
		kstat_start(vm->idle[i] ? KSTAT_IDLE_WFI : KSTAT_VCPU_WAIT);
	}
	stats_set_slot(STATS_SLOT_OTHER);
	/* Between harts this thread is the board; the callstack sampler reads it here. */
	kstat_set(KSTAT_BOARD);
	for (;;) {
		enum vm_result r;
		if (board_take_result(vm, &r))
			return r;
		if (atomic_exchange(&vm->stop_req, false))
			return VM_RESULT_STOPPED;
		if (atomic_exchange(&vm->poweroff_req, false)) {
			LOG_INF("power off requested by the host");
			return VM_RESULT_POWEROFF;
		}
		uint64_t budget = VM_SLICE_INSNS;
		if (limit != UINT64_MAX) {
			uint64_t done = total_instret(vm) - start;
			if (done >= limit)
				return VM_RESULT_BUDGET;
			/*
			 * Deterministic runs keep whole rounds: a shorter slice would move
			 * where interrupts are taken and where LR/SC reservations end, so a
			 * run that stops at N and resumes would not match one that did not.
			 */
			if (!vm->vc.deterministic && limit - done < budget)
				budget = limit - done;
		}
		bool all_idle = true;
		for (unsigned i = 0; i < vm->nharts && !vm->result_set; i++) {
			struct hart *h = vm->harts[i];
			if (vm->idle[i]) {
				if (!hart_irq_pending(h))
					continue;
				vm->idle[i] = false;
			}
			all_idle = false;
			/* Published for the callstack sampler's signal handler. */
			hart_current = h;
			stats_set_slot(i);
			vm->idle[i] = board_run_slice(vm, h, budget);
			hart_current = NULL;
			kstat_set(vm->idle[i] ? KSTAT_IDLE_WFI : KSTAT_VCPU_WAIT);
			stats_set_slot(STATS_SLOT_OTHER);
			kstat_set(KSTAT_BOARD);
			dbg_check_hart(hart_state(h));
		}
		vm_tick(vm);
		cs_devel_tick();
		if (all_idle && !vm->result_set && !atomic_load(&vm->stop_req)) {
			bool pending = false;
			for (unsigned i = 0; i < vm->nharts; i++)
				pending |= hart_irq_pending(vm->harts[i]);
			if (!pending) {
				/* Every hart waits for an interrupt: the same name as in kstats. */
				kstat_set(KSTAT_IDLE_WFI);
				vm_idle(vm);
				kstat_set(KSTAT_BOARD);
			}
		}
	}
}

enum vm_result vm_run(struct vm *vm)
{
	enum vm_result r = vm_loop(vm, UINT64_MAX);
	kstat_detach_all();
	return r;
}

enum vm_result vm_run_insns(struct vm *vm, uint64_t insns)
{
	enum vm_result r = vm_loop(vm, insns);
	kstat_detach_all();
	return r;
}

void vm_request_stop(struct vm *vm)
{
	uint64_t one = 1;
	atomic_store(&vm->stop_req, true);
	/* Deterministic runs stop between rounds only (see vm_loop). */
	if (!vm->vc.deterministic)
		kick_all(vm);
	if (write(vm->evfd, &one, sizeof(one)) < 0) {
		/* The counter is already non-zero: the loop is awake anyway. */
	}
}

void vm_request_poweroff(struct vm *vm)
{
	uint64_t one = 1;
	atomic_store(&vm->poweroff_req, true);
	if (!vm->vc.deterministic)
		kick_all(vm);
	if (write(vm->evfd, &one, sizeof(one)) < 0) {
		/* As above. */
	}
}

void vm_request_shutdown(struct vm *vm)
{
	uint64_t one = 1;
	atomic_store(&vm->shutdown_req, true);
	if (write(vm->evfd, &one, sizeof(one)) < 0) {
		/* As above. */
	}
}

uint64_t vm_tohost_code(const struct vm *vm) { return vm->tohost_code; }

unsigned vm_host_fds(struct vm *vm, char names[][16], int fds[], unsigned max)
{
	unsigned n = 0;
	if (max && vm->ram.memfd >= 0) {
		snprintf(names[n], 16, "ram");
		fds[n++] = vm->ram.memfd;
	}
	for (unsigned i = 0; i < vm->ndevs && n < max; i++) {
		struct device *d = &vm->devs[i];
		struct dev_host_fd hf[VM_MAX_HOST_FDS];
		unsigned k = d->type->host_fds ? d->type->host_fds(d, hf, VM_MAX_HOST_FDS) : 0;
		for (unsigned j = 0; j < k && n < max; j++) {
			snprintf(names[n], 16, "%s", hf[j].name);
			fds[n++] = hf[j].fd;
		}
	}
	return n;
}

void vm_flush_output(struct vm *vm) { board_flush_uart(vm); }

void vm_handed_over(struct vm *vm)
{
	for (unsigned i = 0; i < vm->ndevs; i++)
		if (vm->devs[i].type->handed_over)
			vm->devs[i].type->handed_over(&vm->devs[i]);
}

uint8_t *vm_ram(struct vm *vm, uint64_t *base, uint64_t *size)
{
	*base = vm->ram.base;
	*size = vm->ram.size;
	return vm->ram.host;
}

int vm_ram_fd(struct vm *vm) { return vm->ram.memfd; }

int vm_dirty_start(struct vm *vm, struct verr *e)
{
	return vm->nharts ? hart_dirty_start(vm->harts[0], e) : 0;
}

uint64_t vm_dirty_sync(struct vm *vm, uint64_t *bits)
{
	return vm->nharts ? hart_dirty_sync(vm->harts[0], bits) : 0;
}

void vm_dirty_stop(struct vm *vm)
{
	if (vm->nharts)
		hart_dirty_stop(vm->harts[0]);
}

int vm_release_host_files(struct vm *vm, struct verr *e)
{
	for (unsigned i = 0; i < vm->ndevs; i++) {
		struct device *d = &vm->devs[i];
		int rc = d->type->host_release ? d->type->host_release(d, e) : 0;
		if (rc < 0) {
			/* All or nothing: what was let go is taken back. */
			struct verr ignore;
			while (i-- > 0)
				if (vm->devs[i].type->host_acquire)
					vm->devs[i].type->host_acquire(&vm->devs[i], &ignore);
			return rc;
		}
	}
	return 0;
}

int vm_acquire_host_files(struct vm *vm, struct verr *e)
{
	for (unsigned i = 0; i < vm->ndevs; i++) {
		struct device *d = &vm->devs[i];
		int rc = d->type->host_acquire ? d->type->host_acquire(d, e) : 0;
		if (rc < 0)
			return rc;
	}
	return 0;
}

void vm_time_advance(struct vm *vm, uint64_t ns)
{
	if (!vm->vc.deterministic)
		clint_state(vm->clint)->mtime_delta += ns / NS_PER_TICK;
}

/* Called from the control thread: reads only what the run loop publishes. */
struct hart *vm_hart(struct vm *vm, unsigned i)
{
	return vm && i < vm->nharts ? vm->harts[i] : NULL;
}

void vm_get_status(struct vm *vm, struct vm_status *st)
{
	st->instret = atomic_load_explicit(&vm->instret_pub, memory_order_relaxed);
	st->uptime_ns = board_now_ns() - vm->start_ns;
	st->numvcpus = vm->nharts;
	st->mem_size = vm->ram.size;
}
