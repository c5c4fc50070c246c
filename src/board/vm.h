/*
 * vm.h - the virtual machine board: RAM, harts, devices, device tree, boot,
 * and the loop that runs the harts.  This is the contract between the vmx
 * program (command line, control socket, log) and the machine.
 *
 * The board is modelled on QEMU's riscv `virt` machine so that stock OpenSBI
 * and Linux run unmodified.
 */
#ifndef VMX_BOARD_VM_H
#define VMX_BOARD_VM_H

#include <stdbool.h>
#include <stdint.h>
#include "../lib/cfg.h"
#include "../lib/verr.h"

#define VM_MAX_HARTS 8
#define VM_MAX_DISKS 4
#define VM_MAX_NICS 2
#define VM_NIC_MAX_FWD 8
#define VM_MAX_HOST_FDS 12         /* ram, serial0, disk0..3, ethernet0..1, room to spare */

struct vm;

struct vm_disk_config {
	char path[4096];
	bool readonly;
};

/* ethernetN.connectionType: where the NIC's frames go. */
enum vm_nic_conn {
	VM_NIC_USER = 0,           /* "user" (or "nat"): a passt process, no root needed */
	VM_NIC_TAP,                /* "tap": an existing tap device (ethernetN.vnet) */
};

struct vm_nic_config {
	unsigned idx;              /* N of ethernetN */
	uint8_t mac[6];
	/* No address in the .vmx: one was generated, vmx stores it as ethernetN.generatedAddress. */
	bool mac_generated;
	enum vm_nic_conn conn;
	char vnet[16];             /* tap: the interface name */
	unsigned nfwd;             /* user: ethernetN.portForward */
	struct { bool udp; uint16_t host, guest; } fwd[VM_NIC_MAX_FWD];
};

/* Everything the board needs, resolved from the .vmx file (paths absolute). */
struct vm_config {
	char vmdir[4096];          /* directory holding the .vmx */
	uint64_t mem_size;         /* bytes (memSize is in MiB) */
	unsigned numvcpus;         /* 1..VM_MAX_HARTS */
	char firmware[4096];       /* guest.firmware: OpenSBI fw_dynamic.bin; "" with elf */
	char kernel[4096];         /* guest.kernel: RISC-V Image (EFI stub ok) */
	char initrd[4096];         /* guest.initrd, optional */
	char cmdline[1024];        /* guest.cmdline */
	char elf[4096];            /* guest.elf / --elf: bare-metal HTIF test program */
	unsigned ndisks;
	struct vm_disk_config disks[VM_MAX_DISKS]; /* disk0.fileName ... */
	unsigned nnics;
	struct vm_nic_config nics[VM_MAX_NICS]; /* ethernetN.present = "TRUE" */
	char serial_file[4096];    /* serial0.fileName; "" = the terminal */
	bool deterministic;        /* monitor.deterministic */
	bool translate;            /* monitor.translate: hot guest code compiled to host code */
	bool vcpu_threads;         /* monitor.vcpuThreads: one host thread per vCPU (not deterministic) */
	/*
	 * Set by vmx when the machine is built to resume a checkpoint: guest RAM
	 * comes from the checkpoint, so the firmware, kernel and initrd are not
	 * loaded (they need not even exist any more).
	 */
	bool resume;
	/*
	 * Host fds handed over by another vmx (docs/HANDOVER.md), by name:
	 * "ram" (the guest RAM memfd, mapped as is: nothing is loaded or
	 * zeroed), "serial0", "disk0".."disk3", "ethernet0".. (the NIC's
	 * backend: the passt socket or the tap fd).  A device given its fd uses a
	 * duplicate instead of opening the path; the caller keeps and closes
	 * these.  Zero entries: everything is opened from the configuration.
	 */
	unsigned nhost_fds;
	struct { char name[16]; int fd; } host_fds[VM_MAX_HOST_FDS];
	/*
	 * Live migration's destination: the disk images are measured but not
	 * opened by vm_create (the source host's vmx still holds them);
	 * vm_acquire_host_files opens them once the source let go.
	 */
	bool host_files_later;
};

/* "02:xx:.." for mac; out has room for 18 bytes. */
void vm_format_mac(const uint8_t mac[6], char out[18]);

/* Duplicate (close-on-exec) of the handed-over fd called name; -ENOENT when none. */
int vm_config_dup_fd(const struct vm_config *vc, const char *name);

/* Fills cfg->vm_config from the parsed .vmx; errors name file, line and key. */
int vm_config_from_cfg(struct vm_config *vc, const struct cfg *c, const char *vmdir,
		       struct verr *e);

/* Builds the machine: RAM, harts, devices, device tree, loaded images. */
int vm_create(struct vm **out, const struct vm_config *vc, struct verr *e);
void vm_destroy(struct vm *vm);

enum vm_result {
	VM_RESULT_POWEROFF = 0,   /* guest powered off */
	VM_RESULT_RESET,          /* guest asked for a reboot */
	VM_RESULT_STOPPED,        /* vm_request_stop() */
	VM_RESULT_TOHOST,         /* bare-metal test finished; see vm_tohost_code() */
	VM_RESULT_BUDGET,         /* vm_run_insns() reached its instruction count */
	VM_RESULT_ERROR,          /* fatal monitor error, message in the log */
};

/* Runs until the guest powers off or resets, or a stop is requested. */
enum vm_result vm_run(struct vm *vm);
/* Runs until `insns` more instructions retire in total over all harts (or earlier end). */
enum vm_result vm_run_insns(struct vm *vm, uint64_t insns);

/* Thread-safe: make vm_run return VM_RESULT_STOPPED at the next instruction boundary. */
void vm_request_stop(struct vm *vm);
/* Thread-safe: power off now (hard), at the next instruction boundary. */
void vm_request_poweroff(struct vm *vm);
/*
 * Thread-safe: ask the guest to power itself off, as a power button would
 * (Linux guests: serial-console SysRq sync, remount, power off).  The caller
 * decides how long to wait before vm_request_poweroff.
 */
void vm_request_shutdown(struct vm *vm);

/* HTIF result: 0 pass, otherwise the failing test number. */
uint64_t vm_tohost_code(const struct vm *vm);

struct vm_status {
	uint64_t instret;          /* guest instructions retired, all harts */
	uint64_t uptime_ns;        /* since vm_create */
	unsigned numvcpus;
	uint64_t mem_size;
};
void vm_get_status(struct vm *vm, struct vm_status *st);

struct hart;
/* Hart i (0..numvcpus-1), or NULL: for tools that read state (crash reports). */
struct hart *vm_hart(struct vm *vm, unsigned i);

/*
 * Checkpoint (suspend/resume).
 * vm_save: the VM must be stopped at an instruction boundary (vm_run returned
 * VM_RESULT_STOPPED); writes every hart, device and board section and guest
 * memory.  vm_restore: after vm_create with the same configuration and before
 * vm_run; replaces the power-on state with the checkpoint's (memory may
 * arrive lazily, see ckpt_load_memory).  Neither depends on the build type.
 */
struct ckpt_writer;
struct ckpt_reader;
int vm_save(struct vm *vm, struct ckpt_writer *w, struct verr *e);
int vm_restore(struct vm *vm, struct ckpt_reader *r, struct verr *e);
/*
 * Beta's checkpoint check: the file vm_save just wrote for this (still
 * stopped) VM opens, holds every section vm_save puts, and its machine,
 * cpu and device sections read back field for field equal to the live
 * state.  NULL when so, else what differs (a per-thread buffer).  Memory
 * is checked for its size only.
 */
const char *vm_ckpt_problem(struct vm *vm, const char *path);
/* Guest RAM size in bytes, as the checkpoint records it. */
uint64_t vm_mem_size(const struct vm *vm);

/*
 * The machine without its memory: the "machine", "cpu.N" and device
 * sections, one description used by both transports (the .vmss file and a
 * hand-over to another vmx, whose memory travels as the memfd itself).
 * vm_save = vm_save_state + the memory section; vm_restore =
 * vm_restore_state + loading memory.  vm_restore_state leaves guest RAM
 * alone.
 */
int vm_save_state(struct vm *vm, struct ckpt_writer *w, struct verr *e);
int vm_restore_state(struct vm *vm, struct ckpt_reader *r, struct verr *e);
/*
 * The section names and versions this binary writes and reads ("machine",
 * "cpu", and one per device type by type name), for a hand-over to check
 * that the receiver reads everything the sender writes before the guest
 * stops.  Returns the count; names point at static strings.
 */
#define VM_MAX_STATE_KINDS 16
unsigned vm_state_versions(const char *names[], uint32_t versions[], unsigned max);
/*
 * Host fds the running machine holds that a hand-over passes on: "ram"
 * first, then each device's (console file, disk images).  Returns the count.
 */
unsigned vm_host_fds(struct vm *vm, char names[][16], int fds[], unsigned max);
/*
 * Real-time mode: moves the machine timer forward by ns, for a pause the
 * guest should see as time passing (a hand-over between two processes on one
 * host: the guest's clock stays in step with the host's, as through a short
 * stall on real hardware).  Deterministic mode: time is instructions; nothing.
 */
void vm_time_advance(struct vm *vm, uint64_t ns);
/*
 * A hand-over succeeded: the fds of vm_host_fds belong to the receiving vmx
 * now, and vm_destroy must only close them, not end what is behind them.
 */
void vm_handed_over(struct vm *vm);
/* Flushes buffered console output (before a hand-over stops using it). */
void vm_flush_output(struct vm *vm);

/*
 * Live migration (docs/MIGRATION.md).  Guest RAM as the host maps it:
 * *size bytes at the returned address, guest physical *base; vm_ram_fd is
 * the memfd behind it (pages never written are holes in it).  The dirty log (hart.h's
 * hart_dirty_*, for every vCPU): vm_dirty_sync ORs the pages written since
 * the start or the last sync into bits, one per 4 KiB page from base.
 * vm_release_host_files: the VM stopped, its disk images are flushed and
 * closed, so the destination can open them; vm_acquire_host_files opens
 * them (again).  Errors name the disk.
 */
uint8_t *vm_ram(struct vm *vm, uint64_t *base, uint64_t *size);
int vm_ram_fd(struct vm *vm);
int vm_dirty_start(struct vm *vm, struct verr *e);
uint64_t vm_dirty_sync(struct vm *vm, uint64_t *bits);
void vm_dirty_stop(struct vm *vm);
int vm_release_host_files(struct vm *vm, struct verr *e);
int vm_acquire_host_files(struct vm *vm, struct verr *e);

#endif
