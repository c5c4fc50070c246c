/*
 * csr.c - control and status registers, trap entry, interrupt selection and
 * the xRET instructions.
 *
 * CSRs that OpenSBI and Linux probe but this hart does not implement raise
 * illegal instruction, which both handle.  PMP registers hold legal values
 * but do not restrict anything; hpm counters and events read as zero.
 */
#include "hart_int.h"
#include "fpu.h"
#include "../stats/kstat.h"
#include "../stats/stats.h"

#define MISA_VALUE ((2ULL << 62) | (1 << 0) | (1 << 2) | (1 << 3) | (1 << 5) | (1 << 8) | \
		    (1 << 12) | (1 << 18) | (1 << 20))
#define MSTATUS_WMASK (MSTATUS_SIE | MSTATUS_MIE | MSTATUS_SPIE | MSTATUS_MPIE | MSTATUS_SPP | \
		       MSTATUS_MPP | MSTATUS_FS | MSTATUS_MPRV | MSTATUS_SUM | MSTATUS_MXR | \
		       MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR)
#define SSTATUS_MASK (MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_FS | MSTATUS_SUM | \
		      MSTATUS_MXR | MSTATUS_UXL | MSTATUS_SD)
#define MEDELEG_MASK 0xb3ffULL
#define S_INTS (MIP_SSIP | MIP_STIP | MIP_SEIP)
#define ALL_INTS (S_INTS | MIP_MSIP | MIP_MTIP | MIP_MEIP)

enum {
	CSR_FFLAGS = 0x001, CSR_FRM = 0x002, CSR_FCSR = 0x003,
	CSR_SSTATUS = 0x100, CSR_SIE = 0x104, CSR_STVEC = 0x105, CSR_SCOUNTEREN = 0x106,
	CSR_SENVCFG = 0x10a, CSR_SSCRATCH = 0x140, CSR_SEPC = 0x141, CSR_SCAUSE = 0x142,
	CSR_STVAL = 0x143, CSR_SIP = 0x144, CSR_STIMECMP = 0x14d, CSR_SATP = 0x180,
	CSR_MSTATUS = 0x300, CSR_MISA = 0x301, CSR_MEDELEG = 0x302, CSR_MIDELEG = 0x303,
	CSR_MIE = 0x304, CSR_MTVEC = 0x305, CSR_MCOUNTEREN = 0x306, CSR_MENVCFG = 0x30a,
	CSR_MCOUNTINHIBIT = 0x320, CSR_MSCRATCH = 0x340, CSR_MEPC = 0x341, CSR_MCAUSE = 0x342,
	CSR_MTVAL = 0x343, CSR_MIP = 0x344, CSR_PMPCFG0 = 0x3a0, CSR_PMPADDR0 = 0x3b0,
	CSR_MCYCLE = 0xb00, CSR_MINSTRET = 0xb02, CSR_CYCLE = 0xc00, CSR_TIME = 0xc01,
	CSR_INSTRET = 0xc02, CSR_MVENDORID = 0xf11, CSR_MARCHID = 0xf12, CSR_MIMPID = 0xf13,
	CSR_MHARTID = 0xf14, CSR_MCONFIGPTR = 0xf15,
};

uint64_t hart_time(const struct hart *h)
{
	return h->plat.time ? h->plat.time(h->plat.ctx) : h->s.icount;
}

static void mip_update(struct hart *h, uint64_t mask, uint64_t val)
{
	__atomic_fetch_and(&h->s.mip, ~(mask & ~val), __ATOMIC_RELAXED);
	__atomic_fetch_or(&h->s.mip, mask & val, __ATOMIC_RELAXED);
}

void hart_eval_stip(struct hart *h, uint64_t now)
{
	if (h->s.menvcfg & MENVCFG_STCE)
		mip_update(h, MIP_STIP, now >= h->s.stimecmp ? MIP_STIP : 0);
}

void hart_update_modes(struct hart *h)
{
	const struct hart_state *s = &h->s;
	unsigned old_imode = h->imode;
	if ((s->satp >> 60) == 0) {
		h->imode = h->dmode = MMU_BARE;
	} else {
		h->imode = s->priv == PRIV_M ? MMU_BARE : s->priv == PRIV_S ? MMU_S : MMU_U;
		uint64_t dp = s->priv;
		if (dp == PRIV_M && (s->mstatus & MSTATUS_MPRV))
			dp = (s->mstatus & MSTATUS_MPP) >> MSTATUS_MPP_SHIFT;
		if (dp == PRIV_M)
			h->dmode = MMU_BARE;
		else if (dp == PRIV_S)
			h->dmode = (s->mstatus & MSTATUS_SUM) ? MMU_SSUM : MMU_S;
		else
			h->dmode = MMU_U;
	}
	/* Links were made through the old fetch translation: the new mode's own apply. */
	if (h->imode != old_imode)
		h->chain_gen = h->mode_gen[h->imode];
}


static void trap_deliver(struct hart *h, uint64_t cause, uint64_t tval, bool intr);

/* kstat of a trap delivery: interrupts and the exception classes that matter. */
static unsigned trap_kstat(uint64_t cause, bool intr)
{
	if (intr)
		return KSTAT_IRQ;
	switch (cause) {
	case 12: case 13: case 15: return KSTAT_TRAP_PAGEFAULT;
	case 8: case 9: case 11: return KSTAT_TRAP_ECALL;
	case 2: return KSTAT_TRAP_ILLEGAL;
	default: return KSTAT_TRAP_OTHER;
	}
}

/* Trap deliveries are their own service, so GUEST does not absorb them. */
void hart_trap(struct hart *h, uint64_t cause, uint64_t tval, bool intr)
{
	kstat_push(trap_kstat(cause, intr));
	trap_deliver(h, cause, tval, intr);
	kstat_pop();
}

static void trap_deliver(struct hart *h, uint64_t cause, uint64_t tval, bool intr)
{
	struct hart_state *s = &h->s;
	uint64_t deleg = intr ? s->mideleg : s->medeleg;
	uint64_t code = cause | ((uint64_t)intr << 63);

	if (intr)
		STAT_INC_IDX(TRAP_IRQ, cause);
	else
		STAT_INC_IDX(TRAP_EXC, cause);
	/* An ECALL from S-mode is the kernel calling the SBI firmware. */
	if (!intr && cause == 9)
		STAT_INC(SBI_CALL);

	if (s->priv <= PRIV_S && ((deleg >> cause) & 1)) {
		s->scause = code;
		s->sepc = s->pc;
		s->stval = tval;
		uint64_t st = s->mstatus & ~(MSTATUS_SPIE | MSTATUS_SIE | MSTATUS_SPP);
		if (s->mstatus & MSTATUS_SIE)
			st |= MSTATUS_SPIE;
		if (s->priv == PRIV_S)
			st |= MSTATUS_SPP;
		s->mstatus = st;
		s->priv = PRIV_S;
		s->pc = (s->stvec & ~3ULL) + (intr && (s->stvec & 1) ? 4 * cause : 0);
		STAT_INC(TRAP_TO_S);
	} else {
		s->mcause = code;
		s->mepc = s->pc;
		s->mtval = tval;
		uint64_t st = s->mstatus & ~(MSTATUS_MPIE | MSTATUS_MIE | MSTATUS_MPP);
		if (s->mstatus & MSTATUS_MIE)
			st |= MSTATUS_MPIE;
		st |= s->priv << MSTATUS_MPP_SHIFT;
		s->mstatus = st;
		s->priv = PRIV_M;
		s->pc = (s->mtvec & ~3ULL) + (intr && (s->mtvec & 1) ? 4 * cause : 0);
		STAT_INC(TRAP_TO_M);
	}
	hart_update_modes(h);
}

bool hart_take_irq(struct hart *h)
{
	struct hart_state *s = &h->s;
	static const uint8_t order[6] = { 11, 3, 7, 9, 1, 5 };
	uint64_t pend = mip_load(h) & s->mie;
	if (!pend)
		return false;
	bool m_en = s->priv < PRIV_M || (s->mstatus & MSTATUS_MIE);
	bool s_en = s->priv < PRIV_S || (s->priv == PRIV_S && (s->mstatus & MSTATUS_SIE));
	uint64_t sel = m_en ? pend & ~s->mideleg : 0;
	if (!sel && s_en)
		sel = pend & s->mideleg;
	if (!sel)
		return false;
	for (unsigned i = 0; i < 6; i++) {
		if (sel & (1ULL << order[i])) {
			/* Stats: a crosscall ends here (the sender's write started it). */
			if (VMX_STATS && order[i] == 3)
				stats_ipi_taken(h->id);
			hart_trap(h, order[i], 0, true);
			return true;
		}
	}
	return false;
}

bool hart_mret(struct hart *h)
{
	struct hart_state *s = &h->s;
	if (s->priv < PRIV_M)
		return false;
	uint64_t mpp = (s->mstatus & MSTATUS_MPP) >> MSTATUS_MPP_SHIFT;
	uint64_t st = s->mstatus & ~(MSTATUS_MIE | MSTATUS_MPP);
	if (s->mstatus & MSTATUS_MPIE)
		st |= MSTATUS_MIE;
	st |= MSTATUS_MPIE;
	if (mpp != PRIV_M)
		st &= ~MSTATUS_MPRV;
	s->mstatus = st;
	s->priv = mpp;
	s->pc = s->mepc;
	hart_update_modes(h);
	return true;
}

bool hart_sret(struct hart *h)
{
	struct hart_state *s = &h->s;
	if (s->priv < PRIV_S || (s->priv == PRIV_S && (s->mstatus & MSTATUS_TSR)))
		return false;
	uint64_t spp = (s->mstatus & MSTATUS_SPP) ? PRIV_S : PRIV_U;
	uint64_t st = s->mstatus & ~(MSTATUS_SIE | MSTATUS_SPP | MSTATUS_MPRV);
	if (s->mstatus & MSTATUS_SPIE)
		st |= MSTATUS_SIE;
	st |= MSTATUS_SPIE;
	s->mstatus = st;
	s->priv = spp;
	s->pc = s->sepc;
	hart_update_modes(h);
	return true;
}

static uint64_t read_mstatus(const struct hart_state *s)
{
	uint64_t v = s->mstatus & ~MSTATUS_SD;
	if ((v & MSTATUS_FS) == MSTATUS_FS)
		v |= MSTATUS_SD;
	return v;
}

/* Counter CSRs visible below M-mode only when mcounteren (and scounteren for U) allow. */
static bool counter_allowed(const struct hart_state *s, unsigned bit)
{
	if (s->priv < PRIV_M && !((s->mcounteren >> bit) & 1))
		return false;
	if (s->priv < PRIV_S && !((s->scounteren >> bit) & 1))
		return false;
	return true;
}

bool csr_read(struct hart *h, unsigned csr, uint64_t *val, unsigned idx)
{
	struct hart_state *s = &h->s;
	uint64_t now_icount = s->icount + idx;

	switch (csr) {
	case CSR_FFLAGS: case CSR_FRM: case CSR_FCSR:
		if (!(s->mstatus & MSTATUS_FS))
			return false;
		*val = csr == CSR_FFLAGS ? (s->fcsr & 0x1f) : csr == CSR_FRM ? (s->fcsr >> 5) & 7 : s->fcsr & 0xff;
		return true;
	case CSR_CYCLE: case CSR_INSTRET:
		if (!counter_allowed(s, csr & 31))
			return false;
		*val = now_icount + (csr == CSR_CYCLE ? s->mcycle_off : s->minstret_off);
		return true;
	case CSR_TIME:
		if (!counter_allowed(s, 1))
			return false;
		*val = hart_time(h);
		return true;
	case CSR_SSTATUS: *val = read_mstatus(s) & SSTATUS_MASK; return true;
	case CSR_SIE: *val = s->mie & s->mideleg; return true;
	case CSR_STVEC: *val = s->stvec; return true;
	case CSR_SCOUNTEREN: *val = s->scounteren; return true;
	case CSR_SENVCFG: *val = s->senvcfg; return true;
	case CSR_SSCRATCH: *val = s->sscratch; return true;
	case CSR_SEPC: *val = s->sepc; return true;
	case CSR_SCAUSE: *val = s->scause; return true;
	case CSR_STVAL: *val = s->stval; return true;
	case CSR_SIP: *val = mip_load(h) & s->mideleg; return true;
	case CSR_STIMECMP:
		if (s->priv < PRIV_M && (!(s->menvcfg & MENVCFG_STCE) || !(s->mcounteren & 2)))
			return false;
		*val = s->stimecmp;
		return true;
	case CSR_SATP:
		if (s->priv == PRIV_S && (s->mstatus & MSTATUS_TVM))
			return false;
		*val = s->satp;
		return true;
	case CSR_MSTATUS: *val = read_mstatus(s); return true;
	case CSR_MISA: *val = MISA_VALUE; return true;
	case CSR_MEDELEG: *val = s->medeleg; return true;
	case CSR_MIDELEG: *val = s->mideleg; return true;
	case CSR_MIE: *val = s->mie; return true;
	case CSR_MTVEC: *val = s->mtvec; return true;
	case CSR_MCOUNTEREN: *val = s->mcounteren; return true;
	case CSR_MENVCFG: *val = s->menvcfg; return true;
	case CSR_MCOUNTINHIBIT: *val = 0; return true;
	case CSR_MSCRATCH: *val = s->mscratch; return true;
	case CSR_MEPC: *val = s->mepc; return true;
	case CSR_MCAUSE: *val = s->mcause; return true;
	case CSR_MTVAL: *val = s->mtval; return true;
	case CSR_MIP: *val = mip_load(h); return true;
	case CSR_MCYCLE: *val = now_icount + s->mcycle_off; return true;
	case CSR_MINSTRET: *val = now_icount + s->minstret_off; return true;
	case CSR_MVENDORID: case CSR_MARCHID: case CSR_MIMPID: case CSR_MCONFIGPTR:
		*val = 0;
		return true;
	case CSR_MHARTID: *val = s->hartid; return true;
	}
	if (csr >= CSR_PMPCFG0 && csr < CSR_PMPCFG0 + 16) {
		unsigned n = csr - CSR_PMPCFG0;
		if (n & 1)
			return false;   /* odd pmpcfg do not exist on RV64 */
		*val = n / 2 < VMX_ARRAY_SIZE(s->pmpcfg) ? s->pmpcfg[n / 2] : 0;
		return true;
	}
	if (csr >= CSR_PMPADDR0 && csr < CSR_PMPADDR0 + 64) {
		unsigned n = csr - CSR_PMPADDR0;
		*val = n < HART_NPMP ? s->pmpaddr[n] : 0;
		return true;
	}
	/* Trigger module with no triggers: tselect stays 0 and tdata1 reads type 0. */
	if ((csr >= 0xb03 && csr <= 0xb1f) || (csr >= 0x323 && csr <= 0x33f) ||
	    (csr >= 0x7a0 && csr <= 0x7a3)) {
		*val = 0;
		return true;
	}
	if (csr >= 0xc03 && csr <= 0xc1f) {
		if (!counter_allowed(s, csr & 31))
			return false;
		*val = 0;
		return true;
	}
	return false;
}

static bool csr_write(struct hart *h, unsigned csr, uint64_t val, unsigned idx)
{
	struct hart_state *s = &h->s;

	switch (csr) {
	case CSR_FFLAGS: s->fcsr = (s->fcsr & ~0x1fULL) | (val & 0x1f); break;
	case CSR_FRM: s->fcsr = (s->fcsr & 0x1f) | ((val & 7) << 5); break;
	case CSR_FCSR: s->fcsr = val & 0xff; break;
	case CSR_MSTATUS: case CSR_SSTATUS: {
		uint64_t mask = csr == CSR_MSTATUS ? MSTATUS_WMASK : (SSTATUS_MASK & MSTATUS_WMASK);
		uint64_t nv = (s->mstatus & ~mask) | (val & mask);
		if (((nv & MSTATUS_MPP) >> MSTATUS_MPP_SHIFT) == 2)
			nv = (nv & ~MSTATUS_MPP) | (s->mstatus & MSTATUS_MPP);
		if ((nv ^ s->mstatus) & MSTATUS_MXR)
			mmu_flush_all(h);
		s->mstatus = nv;
		hart_update_modes(h);
		return true;
	}
	case CSR_SIE: s->mie = (s->mie & ~s->mideleg) | (val & s->mideleg & S_INTS); return true;
	case CSR_STVEC: s->stvec = val & ~2ULL; return true;
	case CSR_SCOUNTEREN: s->scounteren = val & 0xffffffffULL; return true;
	case CSR_SENVCFG: s->senvcfg = val & MENVCFG_FIOM; return true;
	case CSR_SSCRATCH: s->sscratch = val; return true;
	case CSR_SEPC: s->sepc = val & ~1ULL; return true;
	case CSR_SCAUSE: s->scause = val; return true;
	case CSR_STVAL: s->stval = val; return true;
	case CSR_SIP:
		if (s->mideleg & MIP_SSIP)
			mip_update(h, MIP_SSIP, val);
		return true;
	case CSR_STIMECMP:
		s->stimecmp = val;
		hart_eval_stip(h, hart_time(h));
		return true;
	case CSR_SATP: {
		uint64_t mode = val >> 60;
		/* Unsupported modes (Sv57...) leave satp unchanged; ASIDs are not kept. */
		if (mode != 0 && mode != 8 && mode != 9)
			return true;
		s->satp = (mode << 60) | (val & ((1ULL << 44) - 1));
		mmu_flush_all(h);
		hart_update_modes(h);
		return true;
	}
	case CSR_MISA: return true;
	case CSR_MEDELEG: s->medeleg = val & MEDELEG_MASK; return true;
	case CSR_MIDELEG: s->mideleg = val & S_INTS; return true;
	case CSR_MIE: s->mie = val & ALL_INTS; return true;
	case CSR_MTVEC: s->mtvec = val & ~2ULL; return true;
	case CSR_MCOUNTEREN: s->mcounteren = val & 0xffffffffULL; return true;
	case CSR_MENVCFG:
		s->menvcfg = val & (MENVCFG_STCE | MENVCFG_FIOM);
		hart_eval_stip(h, hart_time(h));
		return true;
	case CSR_MCOUNTINHIBIT: return true;
	case CSR_MSCRATCH: s->mscratch = val; return true;
	case CSR_MEPC: s->mepc = val & ~1ULL; return true;
	case CSR_MCAUSE: s->mcause = val; return true;
	case CSR_MTVAL: s->mtval = val; return true;
	case CSR_MIP: {
		uint64_t mask = MIP_SSIP | ((s->menvcfg & MENVCFG_STCE) ? 0 : MIP_STIP);
		mip_update(h, mask, val);
		return true;
	}
	case CSR_MCYCLE: s->mcycle_off = val - (s->icount + idx + 1); return true;
	case CSR_MINSTRET: s->minstret_off = val - (s->icount + idx + 1); return true;
	default:
		if (csr >= CSR_PMPCFG0 && csr < CSR_PMPCFG0 + 16) {
			unsigned n = (csr - CSR_PMPCFG0) / 2;
			if (n < VMX_ARRAY_SIZE(s->pmpcfg)) {
				/* Locked entries keep their byte; bits 6:5 are reserved zero;
				 * R=0,W=1 is reserved and reads back as all-zero permissions. */
				uint64_t old = s->pmpcfg[n], nv = 0;
				for (unsigned b = 0; b < 8; b++) {
					uint64_t ob = (old >> (8 * b)) & 0xff, vb = (val >> (8 * b)) & 0x9f;
					if (ob & 0x80)
						vb = ob;
					else if ((vb & 3) == 2)
						vb &= ~3ULL;
					nv |= vb << (8 * b);
				}
				s->pmpcfg[n] = nv;
			}
			return true;
		}
		if (csr >= CSR_PMPADDR0 && csr < CSR_PMPADDR0 + 64) {
			unsigned n = csr - CSR_PMPADDR0;
			if (n < HART_NPMP) {
				uint64_t cfg = s->pmpcfg[n / 8] >> (8 * (n % 8));
				if (!(cfg & 0x80))
					s->pmpaddr[n] = val & ((1ULL << 54) - 1);
			}
			return true;
		}
		/* hpm counters and events: present, read zero, ignore writes */
		return true;
	}
	s->mstatus |= MSTATUS_FS;   /* an FP CSR was written */
	return true;
}

static bool illegal(struct hart *h, const struct dinsn *d)
{
	h->exc_cause = EXC_ILLEGAL;
	h->exc_tval = d->raw;
	return false;
}

bool csr_op(struct hart *h, const struct dinsn *d)
{
	struct hart_state *s = &h->s;
	unsigned csr = d->csr, op = d->op;
	HART_STAT_INC(h, INSN_CSR);
	bool imm = op == OP_CSRRWI || op == OP_CSRRSI || op == OP_CSRRCI;
	bool rw = op == OP_CSRRW || op == OP_CSRRWI;
	uint64_t src = imm ? (uint64_t)d->imm : s->x[d->rs1];
	bool do_write = rw || (imm ? d->imm != 0 : d->rs1 != 0);
	uint64_t old = 0, nv;

	if (s->priv < ((csr >> 8) & 3))
		return illegal(h, d);
	if (do_write && (csr >> 10) == 3)
		return illegal(h, d);
	if (!csr_read(h, csr, &old, d->idx))
		return illegal(h, d);
	if (do_write) {
		if (rw)
			nv = src;
		else if (op == OP_CSRRS || op == OP_CSRRSI)
			nv = old | src;
		else
			nv = old & ~src;
		if (!csr_write(h, csr, nv, d->idx))
			return illegal(h, d);
	}
	s->x[d->rd] = old;
	return true;
}
