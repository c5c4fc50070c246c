/*
 * jit_int.h - private to src/cpu: the translator (guest blocks compiled to
 * x86-64) as hart.c's loop sees it, and the code cache it writes into.
 * docs/TRANSLATOR.md describes the design: what is translated, the register
 * convention, exits, chaining, invalidation and counting.
 */
#ifndef VMX_CPU_JIT_INT_H
#define VMX_CPU_JIT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "../lib/verr.h"

struct hart;
struct block;
struct tlbe;

/*
 * What translated code returns to the loop.  Small values say how it left;
 * anything larger is a struct jit_exit *: it left through a static exit
 * (branch, jump, block end) that the loop may link to the next block.
 */
enum {
	JIT_LEFT_DYNAMIC = 0,   /* s->pc and s->icount are set; nothing to link */
	JIT_LEFT_TRAP = 1,      /* an instruction trapped (the trap is taken) */
	JIT_LEFT_EXIT_REQ = 2,  /* h->exit_req was set: the loop top must look */
	JIT_LEFT_HANDBACK = 3,  /* the interpreter runs on from h->jit_handback */
	JIT_LEFT_MAX = 3,
};

/*
 * A static exit of a translated block: the two patchable fields of its
 * linked path (the chain generation the link was made in, and the jump to
 * the successor), as write addresses in the cache.
 */
struct jit_exit {
	uint8_t *gen_field;     /* imm64 compared with h->chain_gen, or h->page_gen */
	uint8_t *jmp_field;     /* rel32 of the jump to the successor */
	uint64_t target;        /* guest pc the exit goes to */
	const struct block *to; /* the successor last linked (beta's checks) */
	uint64_t src_ppage;     /* physical page of the exit's block */
	bool same_page;         /* target in the block's own virtual page: page_gen */
};

/* Host-code offset to guest instruction, per translated block (profiler side table). */
struct jit_map {
	uint32_t code_size;     /* bytes of host code from block->jit */
	uint32_t n;
	struct { uint32_t off; uint32_t idx; } e[];   /* sorted by off */
};

/*
 * The code cache: one memfd mapped twice, writable for emitting and
 * executable for running, never both in one mapping (W^X).  Metadata
 * (exit records, side tables) lives in plain memory beside it; both reset
 * together with the hart's decoded blocks.
 */
struct jit {
	int fd;
	uint8_t *wr, *rx;
	size_t size, used;
	intptr_t delta;          /* rx - wr */
	uint8_t *meta;
	size_t meta_size, meta_used;
	/* Exit records, in one array so beta can check every live link. */
	struct jit_exit *exits;
	size_t nexits, exits_cap;
	uint32_t dbg_runs;       /* beta: translated-code entries, for sampled checks */
	size_t dbg_link_cursor;  /* beta: the next exit record jit_dbg_check_links looks at */
	void *enter;             /* run address of the entry trampoline */
	void *leave;             /* run address of the common epilogue */
	void *leave_dynamic;     /* the same, returning JIT_LEFT_DYNAMIC */
	size_t tramp_size;       /* bytes of the three above, at the start of the cache */
	void *tx;                /* jit.c's translation state, reused (NULL until the first) */
	unsigned hot;            /* loop-top visits before a block is translated */
	uint64_t translated, flushes;
	uint64_t inlined;        /* side paths translated in line (tests read it) */
	/*
	 * Stats builds: where each translation starts, in emission order (so
	 * sorted by address), for the callstack sampler to find the block a
	 * host pc is in without translated code storing the block it enters.
	 * Written only by the hart's own thread, which is also the thread the
	 * sampler's signal interrupts: an entry is complete before nspans
	 * counts it.
	 */
	struct jit_span { uintptr_t start; const struct block *b; } *spans;
	size_t nspans, spans_cap;
};

/* The entry trampoline: runs translated code at `code` (h->jit_tlb and h->jit_end set). */
typedef uintptr_t (*jit_enter_fn)(struct hart *h, const void *code);

/* jit_cache.c */
int jit_cache_create(struct jit **out, unsigned hartid, struct verr *e);
void jit_cache_destroy(struct jit *j);
/* Drops every translation (the caller drops the blocks that point at them). */
void jit_cache_reset(struct jit *j);
/* Bump allocation of metadata, NULL when full. */
void *jit_cache_meta(struct jit *j, size_t size);
/* A new exit record, NULL when full. */
struct jit_exit *jit_cache_exit(struct jit *j);
/* True when run address pc is inside emitted code. */
static inline int jit_cache_holds(const struct jit *j, uintptr_t pc)
{
	return j && pc >= (uintptr_t)j->rx && pc < (uintptr_t)j->rx + j->used;
}

/* The translated block holding run address pc, or NULL (stats builds; signal-safe). */
const struct block *jit_cache_block_at(const struct jit *j, uintptr_t pc);
/* Records that b's translation starts at run address start; false when the index is full. */
bool jit_cache_add_span(struct jit *j, uintptr_t start, const struct block *b);

/* jit.c */
/*
 * Translates block b (cached, in the hart's arena) and sets b->jit.
 * Returns false, leaving b to the interpreter, when b starts with an
 * instruction the translator hands back or the cache is full (then the
 * caller flushes).  *full tells the two apart.
 */
bool jit_translate(struct hart *h, struct block *b, bool *full);
/* True when none of block b's instructions stores to memory (differential mode). */
bool jit_block_writes_no_memory(const struct block *b);
/* Makes exit x of a translated block jump straight to translated block b. */
void jit_link(struct hart *h, struct jit_exit *x, const struct block *b);
/* Guest instruction index of block b at host pc, or -1. */
int jit_map_pc(const struct block *b, uintptr_t host_pc);
/* Beta, sampled: every exit linked in the current chain generation leads to a live block. */
void jit_dbg_check_links(struct hart *h);

#endif
