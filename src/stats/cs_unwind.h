/*
 * cs_unwind.h - the monitor's own call stacks for the callstack profiler.
 *
 * The stats build runs without frame pointers, like release (they cost it
 * most of a point on a console-bound guest).  So the signal handler records
 * only the interrupted pc, sp and bp and a copy of the top of the stack, and
 * the collector unwinds that copy afterwards by the call-frame information
 * (.eh_frame) of each loaded object, as `perf record --call-graph dwarf`
 * does, through elfutils' libdw.  Translated guest code has no CFI; its one
 * frame layout is known (hart.h, HART_JIT_FRAME_BYTES) and stepped over.
 *
 * Collector thread only (the CFI rules found are cached per pc).
 */
#ifndef VMX_STATS_CS_UNWIND_H
#define VMX_STATS_CS_UNWIND_H

#include <stddef.h>
#include <stdint.h>
#include "../lib/verr.h"

/* What the handler records of the interrupted thread. */
struct cs_hregs {
	uint64_t pc, sp, bp;
};

/*
 * The interrupted hart's code cache, or all zero: [lo, body) holds the
 * entry and exit trampolines, [body, hi) the translated blocks.
 */
struct cs_hjit {
	uint64_t lo, body, hi;
};

/* Why a walk stopped (counted in the profile as monitor_walk_stop NAME N). */
enum cs_hstop {
	CS_HSTOP_END,         /* the outermost frame: its return address is undefined or 0 */
	CS_HSTOP_NO_CFI,      /* no object or no CFI covers the pc */
	CS_HSTOP_RULE,        /* a CFA or register rule this unwinder does not evaluate */
	CS_HSTOP_COPY,        /* the next frame is beyond the stack copy */
	CS_HSTOP_ORDER,       /* the caller's frame is not above this one */
	CS_HSTOP_TRAMPOLINE,  /* stopped inside a translated-code trampoline */
	CS_HSTOP_DEPTH,       /* max frames stored */
	CS_HSTOP_N
};
extern const char *const cs_hstop_name[CS_HSTOP_N];

struct cs_unwind;

/* Maps the calling process's loaded objects (re-read when a pc is in none of them). */
int cs_unwind_new(struct cs_unwind **out, struct verr *e);
void cs_unwind_free(struct cs_unwind *u);

/*
 * Frames of the sampled thread, leaf first: the pc, then each return
 * address.  stack holds len bytes copied from r->sp up.  Translated frames
 * are not stored: the return address into the code that entered them stands
 * for them.  Returns the frames stored; *stop says why the walk ended.
 */
unsigned cs_unwind_walk(struct cs_unwind *u, const struct cs_hregs *r, const uint8_t *stack,
			size_t len, const struct cs_hjit *jit, uint64_t *out, unsigned max,
			uint8_t *stop);

#endif
