/*
 * jit_cache.c - the translator's code cache: one memfd mapped twice, a
 * writable view the translator emits and patches through and an executable
 * view the hart runs, so no page is ever writable and executable at once
 * (W^X), plus the metadata arena (exit records, profiler side tables).
 *
 * The cache starts with two trampolines shared by every block: the entry
 * (saves the callee-saved registers, loads the register convention of
 * docs/TRANSLATOR.md, jumps to the block) and the exit (restores and
 * returns to the loop).  A reset drops every translation at once; the hart
 * drops its decoded blocks at the same time, so nothing points into the
 * cache afterwards.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "hart.h"
#include "jit_int.h"
#include "x86enc.h"

#define JIT_CACHE_SIZE (32u << 20)
#define JIT_META_SIZE (8u << 20)
#define JIT_EXITS (128u << 10)
#define JIT_HOT_DEFAULT 8
/* A translation is at least a chained entry's checks and an exit: >= 32 bytes. */
#define JIT_SPANS (JIT_CACHE_SIZE / 32)

int jit_cache_create(struct jit **out, unsigned hartid, struct verr *e)
{
	struct jit *j = calloc(1, sizeof(*j));
	if (!j)
		return verr_set(e, -ENOMEM, "hart %u: out of memory for the translator", hartid);
	j->fd = -1;
	j->wr = j->rx = MAP_FAILED;
	j->size = JIT_CACHE_SIZE;
	j->meta_size = JIT_META_SIZE;
	j->hot = JIT_HOT_DEFAULT;
	int rc;
	j->fd = memfd_create("vmx-jit", MFD_CLOEXEC);
	if (j->fd < 0) {
		rc = verr_set(e, -errno, "hart %u: translator code cache: memfd_create: %s", hartid,
			      strerror(errno));
		goto fail;
	}
	if (ftruncate(j->fd, (off_t)j->size) < 0) {
		rc = verr_set(e, -errno, "hart %u: translator code cache: ftruncate: %s", hartid,
			      strerror(errno));
		goto fail;
	}
	j->wr = mmap(NULL, j->size, PROT_READ | PROT_WRITE, MAP_SHARED, j->fd, 0);
	j->rx = mmap(NULL, j->size, PROT_READ | PROT_EXEC, MAP_SHARED, j->fd, 0);
	if (j->wr == MAP_FAILED || j->rx == MAP_FAILED) {
		rc = verr_set(e, -errno, "hart %u: translator code cache: mmap: %s", hartid,
			      strerror(errno));
		goto fail;
	}
	j->delta = j->rx - j->wr;
	j->meta = malloc(j->meta_size);
	j->exits_cap = JIT_EXITS;
	j->exits = malloc(j->exits_cap * sizeof(*j->exits));
	if (VMX_STATS) {
		/* Touched only as far as translations go. */
		j->spans_cap = JIT_SPANS;
		j->spans = mmap(NULL, j->spans_cap * sizeof(*j->spans), PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (j->spans == MAP_FAILED)
			j->spans = NULL;
	}
	if (!j->meta || !j->exits || (VMX_STATS && !j->spans)) {
		rc = verr_set(e, -ENOMEM, "hart %u: out of memory for the translator", hartid);
		goto fail;
	}
	jit_cache_reset(j);
	j->flushes = 0;
	*out = j;
	return 0;
fail:
	jit_cache_destroy(j);
	return rc;
}

void jit_cache_destroy(struct jit *j)
{
	if (!j)
		return;
	if (j->wr != MAP_FAILED)
		munmap(j->wr, j->size);
	if (j->rx != MAP_FAILED)
		munmap(j->rx, j->size);
	if (j->fd >= 0)
		close(j->fd);
	free(j->meta);
	free(j->exits);
	if (j->spans)
		munmap(j->spans, j->spans_cap * sizeof(*j->spans));
	free(j->tx);
	free(j);
}

/* Callee-saved registers the entry saves, in push order. */
static const enum xe_reg saved[] = { XE_RBX, XE_RBP, XE_R12, XE_R13, XE_R14, XE_R15 };
#define NSAVED (sizeof(saved) / sizeof(saved[0]))
/* The profiler's unwinder steps over translated frames by this layout (hart.h). */
_Static_assert((NSAVED + 2) * 8 == HART_JIT_FRAME_BYTES,
	       "the entry frame is the return address, the saved registers and 8 bytes of alignment");

void jit_cache_reset(struct jit *j)
{
	struct xe_buf b;

	xe_init(&b, j->wr, j->size, j->delta);
	/*
	 * Entry: (h, code) in rdi, rsi.  Six pushes and the return address
	 * leave rsp 8 off a 16-byte boundary; the extra 8 makes every call
	 * from translated code ABI-aligned.
	 */
	j->enter = xe_here(&b);
	for (unsigned i = 0; i < NSAVED; i++)
		xe_push(&b, saved[i]);
	xe_alu_ri(&b, XE_SUB, true, XE_RSP, 8);
	xe_mov_rr(&b, true, XE_RBX, XE_RDI);
	xe_jmp_r(&b, XE_RSI);
	xe_nops(&b, (unsigned)(-(uintptr_t)b.p & 15));
	/* Exit: rax is what the loop gets. */
	j->leave = xe_here(&b);
	xe_alu_ri(&b, XE_ADD, true, XE_RSP, 8);
	for (unsigned i = NSAVED; i-- > 0;)
		xe_pop(&b, saved[i]);
	xe_ret(&b);
	xe_nops(&b, (unsigned)(-(uintptr_t)b.p & 15));
	j->leave_dynamic = xe_here(&b);
	xe_alu_rr(&b, XE_XOR, false, XE_RAX, XE_RAX);
	xe_jmp_to(&b, j->leave);
	xe_nops(&b, (unsigned)(-(uintptr_t)b.p & 15));
	j->tramp_size = (size_t)(b.p - b.start);
	/* Forget the spans first: a sample taken meanwhile finds no block. */
	__atomic_store_n(&j->nspans, 0, __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	j->used = (size_t)(b.p - b.start);
	j->meta_used = 0;
	j->nexits = 0;
	j->flushes++;
}

struct jit_exit *jit_cache_exit(struct jit *j)
{
	return j->nexits < j->exits_cap ? &j->exits[j->nexits++] : NULL;
}

void *jit_cache_meta(struct jit *j, size_t size)
{
	size = (size + 15) & ~(size_t)15;
	if (j->meta_size - j->meta_used < size)
		return NULL;
	void *p = j->meta + j->meta_used;
	j->meta_used += size;
	return p;
}

bool jit_cache_add_span(struct jit *j, uintptr_t start, const struct block *b)
{
	if (!j->spans)
		return true;
	if (j->nspans == j->spans_cap)
		return false;
	j->spans[j->nspans] = (struct jit_span){ start, b };
	/* The entry is whole before a signal handler on this thread can count it. */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	__atomic_store_n(&j->nspans, j->nspans + 1, __ATOMIC_RELAXED);
	return true;
}

const struct block *jit_cache_block_at(const struct jit *j, uintptr_t pc)
{
	size_t lo = 0, hi = j && j->spans ? __atomic_load_n(&j->nspans, __ATOMIC_RELAXED) : 0;

	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	/* The last span starting at or below pc; the block's side table checks its end. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (j->spans[mid].start <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? j->spans[lo - 1].b : NULL;
}
