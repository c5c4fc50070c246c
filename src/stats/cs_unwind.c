/*
 * cs_unwind.c - unwinds a sampled monitor stack by the loaded objects' CFI
 * (cs_unwind.h).
 *
 * libdw finds each object (dwfl, from /proc/self/maps) and the CFI rule at
 * a pc; this file evaluates the rules GCC and glibc emit for x86-64 code: a
 * CFA of rsp or rbp plus an offset, the return address and rbp saved at an
 * offset from the CFA or kept.  Anything else (expression-defined CFAs, as
 * in a realigned frame) ends the walk with a named reason rather than a
 * guess.  A sample's walk costs a cached lookup per frame: the rules found
 * are kept per pc, since the same few hundred return addresses recur.
 */
#include <dwarf.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "../cpu/hart.h"
#include "cs_unwind.h"

/* DWARF register numbers of x86-64 (System V psABI, figure 3.36). */
enum { DW_RBP = 6, DW_RSP = 7, DW_RA = 16 };

#define RULE_CACHE 4096             /* pcs; a miss costs a libdw lookup */
#define REPORT_AGAIN_NS 1000000000ull

/* The rule at one pc, in the forms this unwinder evaluates. */
struct rule {
	uint64_t pc;                /* key; 0: empty slot */
	uint8_t ok;                 /* 0: the walk stops here (reason in stop) */
	uint8_t stop;               /* enum cs_hstop when !ok */
	uint8_t cfa_reg;            /* DW_RSP or DW_RBP */
	uint8_t bp_saved;           /* rbp saved at CFA + bp_off (else kept or, if bp_lost, unknown) */
	uint8_t bp_lost;
	int64_t cfa_off, ra_off, bp_off;
};

struct cs_unwind {
	Dwfl *dwfl;
	uint64_t reported_ns;
	struct rule cache[RULE_CACHE];
};

const char *const cs_hstop_name[CS_HSTOP_N] = {
	[CS_HSTOP_END] = "end", [CS_HSTOP_NO_CFI] = "no-cfi", [CS_HSTOP_RULE] = "rule",
	[CS_HSTOP_COPY] = "copy", [CS_HSTOP_ORDER] = "order",
	[CS_HSTOP_TRAMPOLINE] = "trampoline", [CS_HSTOP_DEPTH] = "depth",
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Only .eh_frame is read: no separate debug files are looked for. */
static int no_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
			const char *file_name, const char *debuglink_file,
			GElf_Word debuglink_crc, char **debuginfo_file_name)
{
	(void)mod; (void)userdata; (void)modname; (void)base; (void)file_name;
	(void)debuglink_file; (void)debuglink_crc; (void)debuginfo_file_name;
	return -1;
}

static const Dwfl_Callbacks callbacks = {
	.find_elf = dwfl_linux_proc_find_elf,
	.find_debuginfo = no_debuginfo,
};

static int report(struct cs_unwind *u)
{
	dwfl_report_begin(u->dwfl);
	int rc = dwfl_linux_proc_report(u->dwfl, getpid());
	if (dwfl_report_end(u->dwfl, NULL, NULL) != 0 && rc == 0)
		rc = -1;
	u->reported_ns = mono_ns();
	return rc;
}

int cs_unwind_new(struct cs_unwind **out, struct verr *e)
{
	struct cs_unwind *u = calloc(1, sizeof(*u));
	if (!u)
		return verr_set(e, -ENOMEM, "callstack: out of memory");
	u->dwfl = dwfl_begin(&callbacks);
	if (!u->dwfl) {
		free(u);
		return verr_set(e, -ENOMEM, "callstack: libdw: %s", dwfl_errmsg(-1));
	}
	if (report(u) != 0) {
		int rc = verr_set(e, -EIO, "callstack: reading /proc/self/maps: %s", dwfl_errmsg(-1));
		cs_unwind_free(u);
		return rc;
	}
	*out = u;
	return 0;
}

void cs_unwind_free(struct cs_unwind *u)
{
	if (!u)
		return;
	dwfl_end(u->dwfl);
	free(u);
}

/*
 * A register's location as "CFA + off": the forms libdw gives for the
 * offset(N) rule (DW_OP_call_frame_cfa, then DW_OP_plus_uconst N unless N is
 * 0).  *kept: the same_value rule.  False for anything else.
 */
static bool cfa_offset(const Dwarf_Op *ops, size_t nops, int64_t *off, bool *kept)
{
	*kept = false;
	if (nops == 0) {
		*kept = ops == NULL;    /* NULL: same value; else undefined */
		return *kept;
	}
	if (ops[0].atom != DW_OP_call_frame_cfa)
		return false;
	if (nops == 1) {
		*off = 0;
		return true;
	}
	if (nops == 2 && ops[1].atom == DW_OP_plus_uconst) {
		*off = (int64_t)ops[1].number;
		return true;
	}
	if (nops == 3 && (ops[1].atom == DW_OP_consts || ops[1].atom == DW_OP_constu) &&
	    ops[2].atom == DW_OP_plus) {
		*off = (int64_t)ops[1].number;
		return true;
	}
	return false;
}

/* The rule at pc from libdw, in r (r->ok false with the reason when not usable). */
static void find_rule(struct cs_unwind *u, uint64_t pc, struct rule *r)
{
	*r = (struct rule){ .pc = pc, .stop = CS_HSTOP_NO_CFI };
	Dwfl_Module *m = dwfl_addrmodule(u->dwfl, pc);
	if (!m && mono_ns() - u->reported_ns >= REPORT_AGAIN_NS) {
		/* An object mapped since (dlopen): read the maps again, at most once a second. */
		report(u);
		m = dwfl_addrmodule(u->dwfl, pc);
	}
	Dwarf_Addr bias;
	Dwarf_CFI *cfi = m ? dwfl_module_eh_cfi(m, &bias) : NULL;
	Dwarf_Frame *f = NULL;
	if (!cfi || dwarf_cfi_addrframe(cfi, pc - bias, &f) != 0)
		return;
	r->stop = CS_HSTOP_RULE;
	Dwarf_Op *ops, mem[3];
	size_t nops;
	bool kept;
	/* libdw gives a register-plus-offset CFA as DW_OP_bregx (register, offset). */
	if (dwarf_frame_cfa(f, &ops, &nops) != 0 || nops != 1)
		goto out;
	if (ops[0].atom == DW_OP_bregx && (ops[0].number == DW_RSP || ops[0].number == DW_RBP)) {
		r->cfa_reg = (uint8_t)ops[0].number;
		r->cfa_off = (int64_t)ops[0].number2;
	} else if (ops[0].atom == DW_OP_breg0 + DW_RSP || ops[0].atom == DW_OP_breg0 + DW_RBP) {
		r->cfa_reg = (uint8_t)(ops[0].atom - DW_OP_breg0);
		r->cfa_off = (int64_t)ops[0].number;
	} else {
		goto out;
	}
	if (dwarf_frame_register(f, DW_RA, mem, &ops, &nops) != 0)
		goto out;
	if (nops == 0 && ops) {
		/* The return address is undefined: the outermost frame (_start, a thread's start). */
		r->stop = CS_HSTOP_END;
		goto out;
	}
	if (!cfa_offset(ops, nops, &r->ra_off, &kept) || kept)
		goto out;
	if (dwarf_frame_register(f, DW_RBP, mem, &ops, &nops) != 0)
		goto out;
	if (nops == 0 && ops)
		r->bp_lost = 1;
	else if (!cfa_offset(ops, nops, &r->bp_off, &kept))
		goto out;
	else
		r->bp_saved = !kept;
	r->ok = 1;
out:
	free(f);
}

static const struct rule *rule_at(struct cs_unwind *u, uint64_t pc)
{
	uint64_t h = pc * 0x9e3779b97f4a7c15ull;
	struct rule *r = &u->cache[(h >> 40) % RULE_CACHE];
	if (r->pc != pc)
		find_rule(u, pc, r);
	return r;
}

/* Reads the 8 bytes at stack address a from the copy of [sp0, sp0 + len). */
static bool rd(const uint8_t *stack, size_t len, uint64_t sp0, uint64_t a, uint64_t *v)
{
	if (a < sp0 || a - sp0 > len || len - (a - sp0) < 8)
		return false;
	memcpy(v, stack + (a - sp0), 8);
	return true;
}

unsigned cs_unwind_walk(struct cs_unwind *u, const struct cs_hregs *r, const uint8_t *stack,
			size_t len, const struct cs_hjit *jit, uint64_t *out, unsigned max,
			uint8_t *stop)
{
	uint64_t pc = r->pc, sp = r->sp, bp = r->bp;
	bool bp_known = true, first = true;
	unsigned n = 0;

	for (;;) {
		uint64_t cfa, ra;
		if (jit->hi && pc >= jit->lo && pc < jit->hi) {
			/* Translated code: one frame layout, and no frame stored for it. */
			if (pc < jit->body) {
				*stop = CS_HSTOP_TRAMPOLINE;
				return n;
			}
			cfa = sp + HART_JIT_FRAME_BYTES;
			if (!rd(stack, len, r->sp, cfa - 8, &ra)) {
				*stop = CS_HSTOP_COPY;
				return n;
			}
		} else {
			if (n == max) {
				*stop = CS_HSTOP_DEPTH;
				return n;
			}
			out[n++] = pc;
			/* A return address may be the end of its function: look up the call. */
			const struct rule *ru = rule_at(u, first ? pc : pc - 1);
			if (!ru->ok) {
				*stop = ru->stop;
				return n;
			}
			if (ru->cfa_reg == DW_RBP && !bp_known) {
				*stop = CS_HSTOP_RULE;
				return n;
			}
			cfa = (ru->cfa_reg == DW_RSP ? sp : bp) + (uint64_t)ru->cfa_off;
			if (!rd(stack, len, r->sp, cfa + (uint64_t)ru->ra_off, &ra)) {
				*stop = CS_HSTOP_COPY;
				return n;
			}
			if (ru->bp_saved)
				bp_known = rd(stack, len, r->sp, cfa + (uint64_t)ru->bp_off, &bp);
			else if (ru->bp_lost)
				bp_known = false;
		}
		if (!ra) {
			*stop = CS_HSTOP_END;
			return n;
		}
		/* Callers' frames are higher on the stack. */
		if (cfa <= sp) {
			*stop = CS_HSTOP_ORDER;
			return n;
		}
		sp = cfa;
		pc = ra;
		first = false;
	}
}
