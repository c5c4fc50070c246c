/*
 * callstack.h - the callstack profiler of the stats build.
 *
 * Each sampled thread (the thread running the vCPUs) gets a per-thread timer
 * (timer_create, SIGEV_THREAD_ID) at CS_HZ.  The SIGPROF handler records one
 * stack: the guest's frames (PC, then the s0/fp chain read through the guest
 * page tables without side effects), the monitor's registers and a copy of
 * the top of its stack (unwound later by CFI: cs_unwind.h), and the current
 * kstat, into a per-thread ring.  A collector thread drains the rings
 * (unwinding each monitor stack) into a bounded table
 * (vmx.callstackMaxFootprintMB) and
 * writes <vmdir>/stats/callstack-<YYYYmmdd-HHMMSS>-<pid>.txt periodically
 * and at exit, with every address already symbolized (monitor from its own
 * ELF symbol table, guest from guest.symbols), so vmx-callstack needs nothing
 * else.  Format in docs/CALLSTACK.md.
 *
 * Stats builds only; elsewhere every entry point is an inline stub.
 */
#ifndef VMX_STATS_CALLSTACK_H
#define VMX_STATS_CALLSTACK_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "../lib/build.h"
#include "../lib/verr.h"
#include "cs_unwind.h"

#define CS_HZ 97
#define CS_MAX_GUEST 32     /* guest frames kept per sample (pc first) */
#define CS_MAX_MON 48       /* monitor frames kept per sample (leaf first) */
#define CS_DEFAULT_FOOTPRINT_MB 32
#define CS_VCPU_NONE 0xffu  /* sample taken outside hart_run */
/*
 * Bytes of the monitor's stack a sample copies from its sp up: the vCPU
 * thread's deepest ordinary stacks (a device access from translated code)
 * reach main's frame within about 7 KiB.
 */
#define CS_STACK_COPY 16384

struct cfg;

/*
 * Why a guest frame-pointer walk stopped.  Each stop keeps only frames that
 * passed every check, so a profile's outermost guest frame is a real caller:
 * the handler checks what needs no symbols (END .. DEPTH), the collector what
 * needs the guest symbol table (MARKER, UNKNOWN_CODE).
 */
enum cs_gstop {
	CS_GSTOP_END,          /* zero fp or zero return address: the chain's own end */
	CS_GSTOP_NONCANON,     /* return address not canonical for satp's mode (bare: >= 2^56) */
	CS_GSTOP_OTHER_HALF,   /* return address in the other half than the pc (user vs kernel) */
	CS_GSTOP_FP_ORDER,     /* caller's fp not above this one */
	CS_GSTOP_FP_RANGE,     /* fp misaligned, below sp, or a step larger than a stack frame */
	CS_GSTOP_UNMAPPED,     /* the frame record is not readable guest RAM */
	CS_GSTOP_DEPTH,        /* CS_MAX_GUEST frames kept */
	CS_GSTOP_MARKER,       /* reached the kernel's stack-end marker (ret_from_fork*) */
	CS_GSTOP_UNKNOWN_CODE, /* return address where the symbol table knows no code */
	CS_GSTOP_N
};
/* Names as the profile writes them (guest_walk_stop NAME COUNT). */
extern const char *const cs_gstop_name[CS_GSTOP_N];

/*
 * One sample (frames leaf first).  The handler records everything but mon;
 * the collector unwinds mon from hregs and the stack copy kept beside the
 * sample (stack_len bytes from hregs.sp up).
 */
struct cs_sample {
	uint64_t t_ns;          /* CLOCK_MONOTONIC */
	uint16_t kstat;
	uint8_t vcpu;           /* hart id or CS_VCPU_NONE */
	uint8_t priv;           /* guest privilege mode (0 U, 1 S, 3 M) */
	uint8_t nguest, nmon;
	uint8_t pc_exact;       /* guest[0] is the exact pc (else a block boundary) */
	uint8_t gstop;          /* enum cs_gstop, when nguest > 0 */
	uint16_t weight;        /* ticks this sample stands for (0 counts as 1) */
	uint8_t hstop;          /* enum cs_hstop, once mon is unwound */
	uint64_t as;            /* U-mode under translation: satp's ASID and root PPN, else 0 */
	uint32_t graw;          /* bits of the instruction at an exact guest[0], else 0 */
	uint32_t stack_len;
	struct cs_hregs hregs;
	struct cs_hjit hjit;    /* the interrupted hart's code cache, or zeros */
	uint64_t guest[CS_MAX_GUEST];
	uint64_t mon[CS_MAX_MON];
};

/* A symbol table: sorted [start, end) ranges with names. */
struct cs_symtab;

/* Loads guest symbols: an ELF with .symtab, a System.map or a kallsyms text. */
int cs_symtab_load(struct cs_symtab **out, const char *path, struct verr *e);
/*
 * Guest kallsyms captured from a console log: the last block the default
 * guest's kallsyms workload printed between its VMX3-KALLSYMS markers.
 */
int cs_symtab_load_console(struct cs_symtab **out, const char *path, struct verr *e);
/* Adds every symbol of src to dst (kernel and user program in one table). */
int cs_symtab_merge(struct cs_symtab *dst, const struct cs_symtab *src);
/*
 * The bytes of an ELF's executable loadable segments, as one range [lo, hi)
 * (gaps zero): what a user program's code looks like in its address space.
 */
int cs_elf_code(const char *path, uint8_t **code, uint64_t *lo, uint64_t *hi, struct verr *e);
/* The running monitor's own function symbols, relocated by the PIE load bias. */
int cs_symtab_self(struct cs_symtab **out, struct verr *e);
/* Load bias of the running executable (0 unless position-independent). */
uint64_t cs_self_bias(void);
void cs_symtab_free(struct cs_symtab *t);
unsigned cs_symtab_count(const struct cs_symtab *t);
/* Lowest symbol start and highest symbol end: false for an empty table. */
bool cs_symtab_hull(const struct cs_symtab *t, uint64_t *lo, uint64_t *hi);
/* Name of the function covering addr (and its start), or NULL: never a guess. */
const char *cs_symtab_lookup(const struct cs_symtab *t, uint64_t addr, uint64_t *start);
/* The same with the end of the function's range too. */
const char *cs_symtab_lookup_range(const struct cs_symtab *t, uint64_t addr, uint64_t *start,
				   uint64_t *end);

/*
 * The aggregation table: identical stacks (same vCPU, kstat, privilege, time
 * bucket, frames) share one entry with a count.  Its memory never exceeds
 * `cap_bytes`; when nearly full it switches to coarse aggregation (one time
 * bucket, frames cut to CS_COARSE_FRAMES each) and when that is full too it
 * counts drops.
 */
#define CS_COARSE_FRAMES 12
#define CS_TBUCKET_ALL 0xffffffffu
struct cs_table;
int cs_table_create(struct cs_table **out, size_t cap_bytes, unsigned bucket_s);
void cs_table_free(struct cs_table *t);
/* t0_ns: collection start, for the time bucket. */
void cs_table_add(struct cs_table *t, const struct cs_sample *s, uint64_t t0_ns);
uint64_t cs_table_samples(const struct cs_table *t);
uint64_t cs_table_drops(const struct cs_table *t);
unsigned cs_table_entries(const struct cs_table *t);
size_t cs_table_footprint(const struct cs_table *t);
bool cs_table_coarse(const struct cs_table *t);
/*
 * Distinct (guest pc, instruction bits) pairs kept from exactly sampled pcs,
 * and how many more were not kept because their share of the cap was full.
 */
unsigned cs_table_gcode_count(const struct cs_table *t);
uint64_t cs_table_gcode_drops(const struct cs_table *t);

/* Everything a profile file says besides the table. */
struct cs_meta {
	const char *buildtype;
	const char *guest_symbols;   /* path or NULL */
	uint64_t start_unix_ns, elapsed_ns;
	unsigned hz;
	uint64_t signals;            /* handler invocations */
	uint64_t handler_ns;         /* time spent in the handler in all */
	uint64_t collector_ns;       /* CPU time of the collector thread */
	uint64_t ring_drops;         /* samples lost because a ring was full */
	uint64_t pc_exact;           /* guest samples whose pc is the exact instruction */
	uint64_t pc_block;           /* guest samples with only a block-boundary pc */
	const char *exe;             /* the monitor binary, for host disassembly */
	const char *guest_image;     /* guest.kernel, for guest disassembly, or NULL */
	uint64_t exe_bias;           /* its load bias (PIE) */
	uint64_t gstops[CS_GSTOP_N]; /* guest walks by the reason they stopped */
	uint64_t hstops[CS_HSTOP_N]; /* monitor walks by the reason they stopped */
	const struct cs_user *user;  /* guest.userSymbols: nuser programs, or NULL */
	unsigned nuser;
};

/*
 * A user program's symbols (one of guest.userSymbols' programs) and the
 * address spaces it was recognised in: only U-mode frames of those address
 * spaces are named from it (as PROG:FUNC, or PROG+0xOFF); U-mode frames of an
 * address space no program was recognised in are written [user]+0xADDR,
 * never with the kernel's or any program's names.
 */
struct cs_user {
	const struct cs_symtab *sym;
	const char *prog, *path;
	unsigned nas;
	const uint64_t *as;          /* recognised address spaces (cs_sample.as) */
	const uint32_t *match, *mismatch;   /* per as: sampled words equal / not to the ELF's */
};
/*
 * Writes the whole profile (header, kstat names, symbolized frame table,
 * stacks) to path atomically (temporary file + rename).
 */
int cs_write_profile(const char *path, const struct cs_table *t, const struct cs_meta *m,
		     const struct cs_symtab *mon, const struct cs_symtab *guest, struct verr *e);

/*
 * Walks the guest's s0/fp chain from pc, fp and sp without side effects:
 * peek reads guest virtual memory (false: unmapped), vabits is the width of
 * a canonical virtual address under satp's mode (39/48/57) or 0 for bare
 * translation (physical, below 2^56).  Returns frames stored (leaf first)
 * and the reason it stopped in *stop.
 */
typedef bool (*cs_peek_fn)(const void *ctx, uint64_t va, void *buf, unsigned len);
unsigned cs_walk_guest(cs_peek_fn peek, const void *ctx, unsigned vabits, uint64_t pc,
		       uint64_t fp, uint64_t sp, uint64_t ra, uint64_t *out, unsigned max,
		       uint8_t *stop);
/*
 * The symbol rules, on the collector: cuts a guest chain (leaf first) after
 * a stack-end marker frame (ret_from_fork*) or before a return address the
 * table knows no code for (inside its range but in no function; with bare
 * translation, anything outside it).  Returns the frames kept.
 */
unsigned cs_trim_guest(const struct cs_symtab *t, bool bare, const uint64_t *frames, unsigned n,
		       uint8_t *stop);

#if VMX_STATS
/*
 * Reads monitor.callstack, vmx.callstackMaxFootprintMB, guest.symbols; starts
 * the collector and samples the calling thread (the vCPU thread).  Does
 * nothing when monitor.callstack is FALSE or stats are off.  vmdir NULL: no
 * file (tests).
 */
int cs_start(const struct cfg *c, const char *vmdir, struct verr *e);
/* Stops sampling, writes the final profile, frees everything. */
void cs_stop(void);
/* Path of the profile being written ("" when none). */
const char *cs_profile_path(void);
/*
 * Test-only knob (obj build: VMX_DEVEL): spins for about `us` microseconds in
 * a function of its own, so tests can see a known-slow monitor path.
 */
void cs_slow_path(unsigned us);
/* Called by the board once per scheduling round: the test-only slow path
 * (monitor.callstackTestSlowUs, opt/obj builds) when it is set. */
void cs_devel_tick(void);
/*
 * The signal mask for the calling thread's idle waits (ppoll's sigmask):
 * its own mask plus the profiler's signal, so ticks that fall while it
 * sleeps stay pending and are counted as one weighted sample when it wakes,
 * instead of waking it CS_HZ times a second.  NULL when the thread is not
 * sampled (then the wait keeps the thread's mask).
 */
const sigset_t *cs_wait_sigmask(void);
/*
 * vCPU threads (board/vcpu.c): samples the calling thread as vCPU idx from
 * now on, reusing that vCPU's ring across runs; cs_vcpu_detach() stops it
 * before the thread exits.  Nothing when the profiler is not running.
 */
int cs_vcpu_attach(unsigned idx, struct verr *e);
void cs_vcpu_detach(void);
#else
static inline int cs_start(const struct cfg *c, const char *vmdir, struct verr *e)
{
	(void)c; (void)vmdir; (void)e;
	return 0;
}
static inline void cs_stop(void) {}
static inline const char *cs_profile_path(void) { return ""; }
static inline void cs_slow_path(unsigned us) { (void)us; }
static inline void cs_devel_tick(void) {}
static inline const sigset_t *cs_wait_sigmask(void) { return NULL; }
static inline int cs_vcpu_attach(unsigned idx, struct verr *e)
{
	(void)idx;
	(void)e;
	return 0;
}
static inline void cs_vcpu_detach(void) {}
#endif

#endif
