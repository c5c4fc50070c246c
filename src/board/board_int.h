/*
 * board_int.h - the private layout of struct vm shared by the board's files
 * (vm.c: creation and the single-thread run loop, vcpu.c: one thread per
 * vCPU, fdt.c: device tree, loader.c: images, console.c: the terminal,
 * config.c: the .vmx keys).
 */
#ifndef VMX_BOARD_BOARD_INT_H
#define VMX_BOARD_BOARD_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <termios.h>
#include "vm.h"
#include "../cpu/hart.h"
#include "../devices/device.h"
#include "../mem/bus.h"
#include "../mem/ram.h"

#define VM_MAX_DEVICES   24
#define VM_FDT_SIZE      (64 * 1024)    /* room for OpenSBI's fixups too */
#define VM_KERNEL_OFFSET 0x200000ULL     /* Image text_offset on RV64 */
#define VM_FW_INFO_MAGIC 0x4942534fULL   /* "OSBI" */
#define VM_SLICE_INSNS   20000u

/* Where the loaders put things; filled by board_load(). */
struct vm_layout {
	uint64_t entry;                 /* pc of every hart at reset */
	uint64_t fdt_addr, fdt_size;
	uint64_t fw_info_addr;
	uint64_t kernel_addr, kernel_end;
	uint64_t initrd_start, initrd_end;
	uint64_t tohost;                /* ELF mode: tohost symbol, else 0 */
};

/* The interactive console: terminal in raw mode or nothing. */
struct vm_console {
	int in_fd;                      /* -1: no input */
	bool raw;                       /* terminal put in raw mode, restore on exit */
	bool escape;                    /* Ctrl-A seen */
	struct termios saved;
	/*
	 * Input read from the host but not yet taken by the UART: reading ahead
	 * of the guest keeps Ctrl-A x working while the guest ignores the UART.
	 */
	size_t pend_len;
	uint8_t pend[4096];
};

/* A vCPU's host thread while the VM runs with one thread per vCPU (vcpu.c). */
struct vcpu {
	struct vm *vm;
	unsigned idx;
	pthread_t thread;
	bool started;
	/* Futex word: bumped by every wake; the thread sleeps on it in WFI. */
	_Atomic uint32_t wake_seq;
	atomic_bool sleeping;
	_Atomic uint64_t instret;       /* the hart's, published after every slice */
};

struct vm {
	struct vm_config vc;
	struct guest_ram ram;
	struct bus bus;
	unsigned nharts;
	struct hart *harts[VM_MAX_HARTS];
	struct hart_platform plat;
	bool idle[VM_MAX_HARTS];        /* stopped in WFI with nothing pending */

	struct dev_env env;
	unsigned ndevs;
	struct device devs[VM_MAX_DEVICES];
	struct plic *plic;
	struct clint *clint;
	struct uart *uart;
	struct device *plic_dev, *clint_dev, *uart_dev;   /* their locks */
	/* Devices with host I/O to serve between slices (device_type.poll). */
	unsigned npoll;
	struct device *polldevs[VM_MAX_DEVICES];

	/*
	 * The time base the CLINT builds mtime from: host CLOCK_MONOTONIC since
	 * creation, or (deterministic) retired instructions plus idle skips.
	 */
	uint64_t (*time_source)(struct vm *vm);
	uint64_t start_ns;
	uint64_t idle_skip;             /* deterministic: ticks skipped while idle */

	struct vm_layout lay;
	struct vm_console con;

	int evfd;                       /* eventfd: wakes an idle vm_run */
	atomic_bool stop_req, poweroff_req, shutdown_req;
	unsigned shutdown_stage;        /* next SysRq key to send, 0 = none */
	uint64_t shutdown_next;         /* mtime when it is due */
	/*
	 * The run's result: the first board_finish claims it, writes result,
	 * then sets result_set (release); the run loop reads result after
	 * seeing result_set (board_take_result).
	 */
	atomic_bool result_claimed, result_set;
	enum vm_result result;
	uint64_t tohost_code;
	uint64_t last_input_poll_ns;
	/* Instructions retired, published after every round for other threads. */
	_Atomic uint64_t instret_pub;

	/* One thread per vCPU (vcpu.c): the threads and the flag that parks them. */
	struct vcpu vcpus[VM_MAX_HARTS];
	atomic_bool park;
	bool threaded;                  /* this run has one thread per vCPU */
};

uint64_t board_now_ns(void);

/* vm.c, for vcpu.c */
/* Ends the run with r (the first result counts; any thread). */
void board_finish(struct vm *vm, enum vm_result r);
/* The result board_finish left, if any, which then is gone (run loop only). */
bool board_take_result(struct vm *vm, enum vm_result *r);
/* Wakes the board thread from board_wait (any thread). */
void board_wake(struct vm *vm);
/* One slice of hart h (stats: GUEST kstat); true when it now waits in WFI with nothing pending. */
bool board_run_slice(struct vm *vm, struct hart *h, uint64_t budget);
/* The board thread's work besides timers: shutdown keys, devices' host I/O, console. */
void board_serve(struct vm *vm);
/* Waits up to timeout_ns (UINT64_MAX: no limit) for the eventfd, console input or a device's fd. */
void board_wait(struct vm *vm, uint64_t timeout_ns);
/* Writes buffered UART output (under the UART's lock). */
void board_flush_uart(struct vm *vm);
/* The time base's ns per mtime tick. */
#define BOARD_NS_PER_TICK (1000000000ULL / DEV_TIMEBASE_HZ)

/* vcpu.c */
/* Whether this run uses one thread per vCPU (config, not deterministic, more than one hart). */
bool board_threaded(const struct vm *vm, uint64_t limit);
/* Runs the VM with one thread per vCPU until a result, a stop or a power-off request. */
enum vm_result board_run_threads(struct vm *vm);
/* Makes hart i's thread look at its interrupts again if it sleeps in WFI (any thread). */
void board_vcpu_wake(struct vm *vm, unsigned i);

/* fdt.c: builds the device tree into buf (VM_FDT_SIZE bytes). */
int board_build_fdt(struct vm *vm, void *buf, size_t size, struct verr *e);
/* Builds it and copies it to vm->lay.fdt_addr in guest RAM. */
int board_write_fdt(struct vm *vm, struct verr *e);

/* loader.c */
int board_load(struct vm *vm, struct verr *e);
int board_load_elf(struct vm *vm, const char *path, struct verr *e);
/* Checks a RISC-V Image header; fills the image size (with bss). */
int board_check_image(const void *hdr, size_t len, uint64_t *image_size);

/* console.c */
int console_open(struct vm_console *con, const struct vm_config *vc, struct verr *e);
void console_close(struct vm_console *con);
/* Reads available input into con->pend (handling Ctrl-A escapes), without blocking. */
void console_read(struct vm *vm);
/* True when console input should wake an idle VM (input open, room to take it). */
bool console_wants_input(const struct vm_console *con);

#endif
