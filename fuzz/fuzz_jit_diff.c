/*
 * fuzz_jit_diff.c - libFuzzer target: the translator (src/cpu/jit.c) must
 * agree with the interpreter on any code.
 *
 * The input is guest code plus a small header.  Two harts, each on its own
 * RAM and bus, one interpreting and one translating every block the first
 * time the run loop meets it, get the same code, memory and registers and
 * the same instruction budget (in one hart_run call or in small steps, so
 * runs stop mid-block); their hart_run results, whole struct hart_state, RAM
 * and MMIO device must then be identical, else the target prints the first
 * difference and aborts.  Any bytes are accepted: illegal encodings trap to
 * a handler that skips them, and both engines must agree on that too.
 * tests/unit/test_jit_diff.c does the same from generated programs.
 *
 * Input: [0..1] budget (le16, taken as 1..256), [2] step (mod 33; 0: one call,
 * else steps of 1..step), [3] bits 0-1 privilege (0/3 M, 1 U, 2 S), bit 2 FPU off,
 * bits 3-7 where the code starts (in 128-byte steps, so it can straddle a
 * page), [4..11] seed of the registers and data, then the code.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/hart.h"
#include "cpu/hart_int.h"
#include "cpu/hart_state.h"
#include "mem/bus.h"
#include "mem/ram.h"

/* Guest memory: handler and the stop loop on page 0, code on the next two
 * pages, tohost on a page of its own, data on the last two pages of RAM. */
#define BASE       0x80000000ULL
#define RAM_SIZE   0xc000ULL
#define HANDLER    BASE
#define STOP       (BASE + 0x100)
#define CODE_LO    (BASE + 0x1000)
#define CODE_HI    (BASE + 0x3000)
#define TOHOST     (BASE + 0x3800)
#define DATA_LO    (BASE + 0xa000)
#define DATA_MID   (BASE + 0xb000)
#define MMIO_BASE  0x10000000ULL
#define MMIO_SIZE  0x100u
#define CODE_MAX   0x1000u
#define HDR        12

/* The harness's own loops are no coverage signal, and instrumenting them
 * halved the executions per second. */
#define NO_COV __attribute__((no_sanitize("coverage")))

static NO_COV uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint32_t enc_i(int32_t imm, unsigned rs1, unsigned f3, unsigned rd, unsigned op)
{
	return ((uint32_t)imm & 0xfff) << 20 | rs1 << 15 | f3 << 12 | rd << 7 | op;
}
static uint32_t enc_b(int32_t off, unsigned rs2, unsigned rs1, unsigned f3)
{
	uint32_t u = (uint32_t)off;
	return ((u >> 12) & 1) << 31 | ((u >> 5) & 0x3f) << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 |
	       ((u >> 1) & 0xf) << 8 | ((u >> 11) & 1) << 7 | 0x63;
}

/* Device memory, so loads, stores and AMOs reach the bus too. */
struct mmdev {
	uint8_t mem[MMIO_SIZE];
	uint64_t reads, writes;
};

static int mmdev_read(void *dev, uint64_t off, unsigned len, uint64_t *val)
{
	struct mmdev *d = dev;
	uint64_t v = 0;
	if (off + len > MMIO_SIZE)
		return -EFAULT;
	memcpy(&v, d->mem + off, len);
	*val = v;
	d->reads++;
	return 0;
}

static int mmdev_write(void *dev, uint64_t off, unsigned len, uint64_t val)
{
	struct mmdev *d = dev;
	if (off + len > MMIO_SIZE)
		return -EFAULT;
	memcpy(d->mem + off, &val, len);
	d->writes++;
	return 0;
}

static const struct mmio_ops mmdev_ops = { mmdev_read, mmdev_write };

struct machine {
	struct guest_ram ram;
	struct bus bus;
	struct hart_platform plat;
	struct mmdev dev;
	struct hart *h;
};

static struct machine g_m[2];   /* [0] interprets, [1] translates */

static uint64_t fixed_time(void *ctx) { (void)ctx; return 123456789; }

static void machine_init(struct machine *m, bool translate)
{
	struct verr err;
	if (ram_create(&m->ram, BASE, RAM_SIZE, &err) < 0)
		abort();
	bus_init(&m->bus, &m->ram);
	if (bus_map(&m->bus, "diffdev", MMIO_BASE, MMIO_SIZE, &mmdev_ops, &m->dev) < 0)
		abort();
	m->plat.bus = &m->bus;
	m->plat.time = fixed_time;
	m->plat.timebase_hz = 10000000;
	m->plat.tohost = TOHOST;
	m->plat.translate = translate;
	if (hart_create(&m->h, 0, &m->plat, &err) < 0 || (translate && !m->h->jit))
		abort();
	hart_jit_threshold(m->h, 1);
	/* A decoded-block field the decoder forgets to set must not read as a
	 * lucky zero (fresh mmap pages): fill the arena as ASan fills malloc. */
	memset(m->h->arena, 0xbe, m->h->arena_size);
}

/*
 * Trap handler (x30/x31 only): after an exception resume 2 or 4 bytes on,
 * after an interrupt clear the software pending bits, after a fetch fault
 * stop in the loop at STOP.
 */
static NO_COV void write_page0(struct machine *m)
{
	const uint32_t h[] = {
		enc_i(0x342, 0, 2, 31, 0x73),                   /* csrr t6, mcause */
		enc_b(0x40 - 0x04, 0, 31, 4),                   /* bltz t6, irq */
		enc_i(-12, 31, 0, 30, 0x13),                    /* addi t5, t6, -12 */
		enc_b((int32_t)(STOP - HANDLER - 0x0c), 0, 30, 0),
		enc_i(2, 31, 3, 30, 0x13),                      /* sltiu t5, t6, 2 */
		enc_b((int32_t)(STOP - HANDLER - 0x14), 0, 30, 1),
		enc_i(0x341, 0, 2, 31, 0x73),                   /* csrr t6, mepc */
		enc_i(0, 31, 5, 30, 0x03),                      /* lhu t5, 0(t6) */
		enc_i(3, 30, 7, 30, 0x13),                      /* andi t5, t5, 3 */
		enc_i(-3, 30, 0, 30, 0x13),
		enc_i(1, 30, 3, 30, 0x13),                      /* seqz t5, t5 */
		enc_i(1, 30, 1, 30, 0x13),                      /* slli t5, t5, 1 */
		enc_i(2, 30, 0, 30, 0x13),
		30u << 20 | 31u << 15 | 31u << 7 | 0x33,        /* add t6, t6, t5 */
		enc_i(0x341, 31, 1, 0, 0x73),                   /* csrw mepc, t6 */
		0x30200073u,                                    /* mret */
		enc_i(0x22, 0, 0, 31, 0x13),                    /* irq: li t6, SSIP|STIP */
		enc_i(0x344, 31, 3, 0, 0x73),                   /* csrc mip, t6 */
		0x30200073u,
	};
	const uint32_t stop = 0x6f;   /* j . */
	if (bus_dma_write(&m->bus, HANDLER, h, sizeof(h)) < 0 ||
	    bus_dma_write(&m->bus, STOP, &stop, 4) < 0)
		abort();
}

static NO_COV uint64_t value(uint64_t *s)
{
	static const uint64_t edge[] = { 0, 1, ~0ULL, 0x8000000000000000ULL, 0x7fffffffffffffffULL,
					 0xffffffff80000000ULL, 0x7fffffffULL, 0xffffffffULL, 31, 63,
					 64, DATA_MID, TOHOST, MMIO_BASE + 0x40 };
	uint64_t r = splitmix(s);
	switch (r & 3) {
	case 0: return edge[(r >> 8) % (sizeof(edge) / sizeof(edge[0]))];
	case 1: return (uint64_t)(int64_t)(int8_t)(r >> 8);
	default: return splitmix(s);
	}
}

static NO_COV void load(struct machine *m, const uint8_t *code, size_t n, uint64_t start, unsigned priv,
		 bool fp_off, uint64_t seed)
{
	static uint8_t img[CODE_HI - CODE_LO], data[RAM_SIZE - (DATA_LO - BASE)];
	static const uint64_t zero = 0;
	uint64_t s = seed;

	hart_reset(m->h, start);
	write_page0(m);
	memset(img, 0, sizeof(img));
	memcpy(img + (start - CODE_LO), code, n);
	for (size_t i = 0; i < sizeof(data); i += 8) {
		uint64_t v = value(&s);
		memcpy(data + i, &v, 8);
	}
	if (bus_dma_write(&m->bus, CODE_LO, img, sizeof(img)) < 0 ||
	    bus_dma_write(&m->bus, TOHOST, &zero, 8) < 0 ||
	    bus_dma_write(&m->bus, DATA_LO, data, sizeof(data)) < 0)
		abort();
	for (size_t i = 0; i < MMIO_SIZE; i++)
		m->dev.mem[i] = (uint8_t)splitmix(&s);
	m->dev.reads = m->dev.writes = 0;

	struct hart_state *st = hart_state(m->h);
	for (unsigned i = 1; i < 32; i++)
		st->x[i] = value(&s);
	/* sp, s0, s1: data pointers (the compressed loads and stores use them) */
	st->x[2] = DATA_MID + (splitmix(&s) % 0x800) - 0x400;
	st->x[8] = DATA_MID + 8 * (splitmix(&s) % 0x100) - 0x400;
	st->x[9] = DATA_MID + (splitmix(&s) % 0x800) - 0x400;
	for (unsigned i = 0; i < 32; i++)
		st->f[i] = splitmix(&s);
	st->fcsr = splitmix(&s) & 0xff;
	if (!fp_off)
		st->mstatus |= 1ULL << 13;
	st->mtvec = HANDLER;
	st->priv = priv;
	st->mstatus |= (uint64_t)priv << 11;   /* trap returns go back to that mode */
	hart_update_modes(m->h);
}

static const char *exit_name(enum hart_exit x)
{
	static const char *n[] = { "BUDGET", "WFI", "STOP", "TOHOST" };
	return (unsigned)x < 4 ? n[x] : "?";
}

/* Name of word w of struct hart_state (all its fields are 64-bit). */
static void word_name(size_t w, char *buf, size_t len)
{
	static const char *after_f[] = { "pc", "priv", "fcsr", "icount", "minstret_off",
					 "mcycle_off", "mstatus" };
	size_t x = offsetof(struct hart_state, x) / 8, f = offsetof(struct hart_state, f) / 8;
	if (w >= x && w < x + 33)
		snprintf(buf, len, "x[%zu]", w - x);
	else if (w >= f && w < f + 32)
		snprintf(buf, len, "f[%zu]", w - f);
	else if (w - (f + 32) < sizeof(after_f) / sizeof(after_f[0]))
		snprintf(buf, len, "%s", after_f[w - (f + 32)]);
	else
		snprintf(buf, len, "word %zu of struct hart_state", w);
}

static void report(const char *what, const uint8_t *data, size_t size)
{
	fprintf(stderr, "fuzz_jit_diff: interpreter and translator differ: %s\ncode:", what);
	for (size_t i = HDR; i + 1 < size && i < HDR + CODE_MAX; i += 2)
		fprintf(stderr, "%s%04x", (i - HDR) % 32 ? " " : "\n  ",
			(unsigned)(data[i] | data[i + 1] << 8));
	fprintf(stderr, "\n");
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	char why[256];

	if (size < HDR + 2)
		return 0;
	if (!ready) {
		machine_init(&g_m[0], false);
		machine_init(&g_m[1], true);
		ready = true;
	}
	uint64_t budget = 1 + ((unsigned)data[0] | (unsigned)data[1] << 8) % 256;
	unsigned step = data[2] % 33;
	static const unsigned privs[4] = { PRIV_M, PRIV_U, PRIV_S, PRIV_M };
	unsigned priv = privs[data[3] & 3];
	uint64_t start = CODE_LO + (uint64_t)(data[3] >> 3) * 0x80;
	uint64_t seed;
	memcpy(&seed, data + 4, 8);
	size_t n = size - HDR;
	if (n > CODE_MAX)
		n = CODE_MAX;

	for (int k = 0; k < 2; k++)
		load(&g_m[k], data + HDR, n, start, priv, data[3] & 4, seed);

	struct hart_state *a = hart_state(g_m[0].h), *b = hart_state(g_m[1].h);
	uint64_t first = a->icount, lcg = seed | 1;
	for (unsigned calls = 0; calls < 200 && a->icount - first < budget; calls++) {
		uint64_t left = budget - (a->icount - first);
		lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
		uint64_t chunk = step ? 1 + (lcg >> 33) % step : left;
		if (chunk > left)
			chunk = left;
		enum hart_exit ea = hart_run(g_m[0].h, chunk), eb = hart_run(g_m[1].h, chunk);
		if (ea != eb) {
			snprintf(why, sizeof(why), "call %u: hart_run returned %s vs %s", calls + 1,
				 exit_name(ea), exit_name(eb));
			report(why, data, size);
		}
		if (memcmp(a, b, sizeof(*a)) != 0) {
			const uint64_t *wa = (const uint64_t *)(const void *)a;
			const uint64_t *wb = (const uint64_t *)(const void *)b;
			size_t w = 0;
			while (wa[w] == wb[w])
				w++;
			char name[48];
			word_name(w, name, sizeof(name));
			snprintf(why, sizeof(why), "call %u: %s: interpreter 0x%" PRIx64
				 ", translator 0x%" PRIx64, calls + 1, name, wa[w], wb[w]);
			report(why, data, size);
		}
		if (ea == HART_EXIT_TOHOST && !step)
			break;
	}
	if (memcmp(g_m[0].ram.host, g_m[1].ram.host, RAM_SIZE) != 0)
		report("RAM", data, size);
	if (memcmp(&g_m[0].dev, &g_m[1].dev, sizeof(g_m[0].dev)) != 0)
		report("MMIO device", data, size);
	return 0;
}
