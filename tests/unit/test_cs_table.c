/*
 * test_cs_table.c - the callstack profiler's pieces that need no timer:
 * symbol tables (text maps never name an address outside a function), the
 * bounded aggregation table (merging, coarse mode, drops, the cap), the
 * monitor's frame-pointer walk and its bounds, the side-effect-free guest
 * memory peek through Sv39 page tables, the profile writer, and the sampled
 * guest instruction words (gcode lines) kept within the same cap.
 */
/* The obj library this links against is a stats build: use its real entry points. */
#define VMX_STATS 1
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "cpu/hart.h"
#include "cpu/hart_state.h"
#include "mem/bus.h"
#include "mem/ram.h"
#include "stats/callstack.h"

#define BASE 0x80000000ull

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_symtab_text(void **state)
{
	char path[] = "/tmp/test_cs_mapXXXXXX";
	struct cs_symtab *t;
	struct verr e;
	uint64_t start = 0;
	int fd = mkstemp(path);
	(void)state;
	assert_true(fd >= 0);
	close(fd);
	write_file(path, "ffffffff80001000 T alpha\n"
			 "ffffffff80001100 t beta\n"
			 "ffffffff80001180 D some_data\n"
			 "0000000000000000 T zeroed\n"
			 "ffffffff80001200 W gamma\t[mod]\n");
	assert_int_equal(cs_symtab_load(&t, path, &e), 0);
	assert_int_equal(cs_symtab_count(t), 3);   /* data and zero addresses are not functions */
	assert_string_equal(cs_symtab_lookup(t, 0xffffffff80001010ull, &start), "alpha");
	assert_int_equal(start, 0xffffffff80001000ull);
	/* beta ends where gamma starts: the data symbol does not cut it short. */
	assert_string_equal(cs_symtab_lookup(t, 0xffffffff800011f0ull, NULL), "beta");
	assert_string_equal(cs_symtab_lookup(t, 0xffffffff80001200ull, NULL), "gamma");
	assert_null(cs_symtab_lookup(t, 0xffffffff80000fffull, NULL));
	assert_null(cs_symtab_lookup(t, 0xffffffff80001200ull + 4096, NULL));
	cs_symtab_free(t);

	write_file(path, "not a symbol file\n");
	assert_int_equal(cs_symtab_load(&t, path, &e), -EINVAL);
	unlink(path);
}

static void test_symtab_console_and_self(void **state)
{
	char path[] = "/tmp/test_cs_conXXXXXX";
	struct cs_symtab *t, *self;
	struct verr e;
	uint64_t start;
	int fd = mkstemp(path);
	(void)state;
	assert_true(fd >= 0);
	close(fd);
	write_file(path, "[    1.0] booting\r\n"
			 "ffffffff80002000 T stale_block\r\n"
			 "VMX3-KALLSYMS-BEGIN\r\n"
			 "ffffffff80003000 T from_guest\r\n"
			 "ffffffff80003040 t next_one\r\n"
			 "VMX3-KALLSYMS-END count=2\r\n"
			 "ffffffff80004000 T after_end\r\n");
	assert_int_equal(cs_symtab_load_console(&t, path, &e), 0);
	assert_int_equal(cs_symtab_count(t), 2);
	assert_string_equal(cs_symtab_lookup(t, 0xffffffff80003004ull, NULL), "from_guest");
	assert_null(cs_symtab_lookup(t, 0xffffffff80002000ull, NULL));
	unlink(path);

	/* The monitor's own table names this very function, PIE bias applied. */
	assert_int_equal(cs_symtab_self(&self, &e), 0);
	const char *n = cs_symtab_lookup(self, (uint64_t)(uintptr_t)test_symtab_console_and_self + 1,
					 &start);
	assert_non_null(n);
	assert_string_equal(n, "test_symtab_console_and_self");
	assert_int_equal(start, (uint64_t)(uintptr_t)test_symtab_console_and_self);
	/* Merging keeps both tables' names. */
	assert_int_equal(cs_symtab_merge(self, t), 0);
	assert_string_equal(cs_symtab_lookup(self, 0xffffffff80003044ull, NULL), "next_one");
	cs_symtab_free(self);
	cs_symtab_free(t);
}

static void sample(struct cs_sample *s, uint64_t seed, unsigned nframes)
{
	memset(s, 0, sizeof(*s));
	s->t_ns = 1000;
	s->kstat = 1;
	s->vcpu = 0;
	s->priv = 1;
	s->nguest = (uint8_t)(nframes < CS_MAX_GUEST ? nframes : CS_MAX_GUEST);
	s->nmon = (uint8_t)(nframes < CS_MAX_MON ? nframes : CS_MAX_MON);
	for (unsigned i = 0; i < s->nguest; i++)
		s->guest[i] = 0x80000000ull + seed * 64 + i;
	for (unsigned i = 0; i < s->nmon; i++)
		s->mon[i] = 0x400000ull + seed * 64 + i;
}

static void test_table_merge_and_cap(void **state)
{
	struct cs_table *t;
	struct cs_sample s;
	(void)state;
	assert_int_equal(cs_table_create(&t, 64 * 1024, 1), 0);
	assert_true(cs_table_footprint(t) <= 64 * 1024);
	sample(&s, 1, 5);
	cs_table_add(t, &s, 0);
	cs_table_add(t, &s, 0);
	assert_int_equal(cs_table_entries(t), 1);
	assert_int_equal(cs_table_samples(t), 2);
	s.weight = 5;   /* a tick held back while the thread slept stands for five */
	cs_table_add(t, &s, 0);
	assert_int_equal(cs_table_entries(t), 1);
	assert_int_equal(cs_table_samples(t), 7);
	s.weight = 0;
	s.vcpu = 1;   /* another vCPU is another stack */
	cs_table_add(t, &s, 0);
	assert_int_equal(cs_table_entries(t), 2);
	s.t_ns = 5000000000ull;   /* another time bucket too */
	cs_table_add(t, &s, 0);
	assert_int_equal(cs_table_entries(t), 3);
	assert_false(cs_table_coarse(t));

	/* Distinct deep stacks until full: coarse first, then counted drops. */
	for (uint64_t i = 2; i < 20000; i++) {
		sample(&s, i, 40);
		cs_table_add(t, &s, 0);
	}
	assert_true(cs_table_coarse(t));
	assert_true(cs_table_drops(t) > 0);
	assert_int_equal(cs_table_samples(t), 9 + 19998);
	assert_true(cs_table_footprint(t) <= 64 * 1024);
	/* A stack seen before still merges after the switch (coarse key). */
	unsigned n = cs_table_entries(t);
	uint64_t drops = cs_table_drops(t);
	sample(&s, 19999, 40);
	cs_table_add(t, &s, 0);
	cs_table_add(t, &s, 0);
	assert_true(cs_table_entries(t) == n || cs_table_drops(t) == drops + 2);
	cs_table_free(t);
}

/* A fake guest stack: 64 words at GSTACK (an Sv39 kernel address). */
#define GSTACK 0xffffffc600004000ull
struct gmem { uint64_t w[64]; };
static bool gpeek(const void *ctx, uint64_t va, void *buf, unsigned len)
{
	const struct gmem *m = ctx;
	if (va < GSTACK || va + len > GSTACK + sizeof(m->w))
		return false;
	memcpy(buf, (const char *)m->w + (va - GSTACK), len);
	return true;
}
#define GFP(i) (GSTACK + 8 * (i))   /* fp whose record is w[i-2] (fp), w[i-1] (ra) */

static void test_walk_guest(void **state)
{
	struct gmem m = { 0 };
	uint64_t out[16];
	uint8_t stop = 0xff;
	const uint64_t K = 0xffffffff80001000ull;
	(void)state;
	/* Two good records, then one whose "ra" is instruction bytes: never a frame. */
	m.w[8] = GFP(20); m.w[9] = K + 0x10;
	m.w[18] = GFP(30); m.w[19] = K + 0x20;
	m.w[28] = 0x8082014145016402ull; m.w[29] = 0x43a080e7ff60c097ull;
	unsigned n = cs_walk_guest(gpeek, &m, 39, K + 4, GFP(10), GFP(4), 0, out, 16, &stop);
	assert_int_equal(n, 3);
	assert_int_equal(out[0], K + 4);
	assert_int_equal(out[2], K + 0x20);
	assert_int_equal(stop, CS_GSTOP_NONCANON);
	/* A kernel chain does not return to user code. */
	m.w[29] = 0x10636;
	n = cs_walk_guest(gpeek, &m, 39, K + 4, GFP(10), GFP(4), 0, out, 16, &stop);
	assert_int_equal(n, 3);
	assert_int_equal(stop, CS_GSTOP_OTHER_HALF);
	/* fp 0 ends the chain after its return address; fp going down stops it. */
	m.w[29] = K + 0x30; m.w[28] = 0;
	n = cs_walk_guest(gpeek, &m, 39, K + 4, GFP(10), GFP(4), 0, out, 16, &stop);
	assert_int_equal(n, 4);
	assert_int_equal(stop, CS_GSTOP_END);
	m.w[28] = GFP(12);
	n = cs_walk_guest(gpeek, &m, 39, K + 4, GFP(10), GFP(4), 0, out, 16, &stop);
	assert_int_equal(n, 4);
	assert_int_equal(stop, CS_GSTOP_FP_ORDER);
	/* A step far beyond any stack frame (a function pointer in s0). */
	m.w[28] = K + 0x100;
	n = cs_walk_guest(gpeek, &m, 39, K + 4, GFP(10), GFP(4), 0, out, 16, &stop);
	assert_int_equal(n, 4);
	assert_int_equal(stop, CS_GSTOP_FP_RANGE);
	/* Off the mapped stack, below sp, and capped. */
	m.w[28] = GFP(70);
	n = cs_walk_guest(gpeek, &m, 39, K + 4, GFP(10), GFP(4), 0, out, 16, &stop);
	assert_int_equal(stop, CS_GSTOP_UNMAPPED);
	assert_int_equal(cs_walk_guest(gpeek, &m, 39, K, GFP(10), GFP(12), 0, out, 16, &stop), 1);
	assert_int_equal(stop, CS_GSTOP_FP_RANGE);
	assert_int_equal(cs_walk_guest(gpeek, &m, 39, K, GFP(10), GFP(4), 0, out, 2, &stop), 2);
	assert_int_equal(stop, CS_GSTOP_DEPTH);
	/* Bare translation: physical addresses below 2^56 only. */
	m.w[9] = 0x80000010;
	m.w[19] = 0x80000020;
	m.w[29] = 0x0100000080000000ull;
	m.w[28] = 0;
	n = cs_walk_guest(gpeek, &m, 0, 0x80000004, GFP(10), GFP(4), 0, out, 16, &stop);
	assert_int_equal(n, 3);
	assert_int_equal(stop, CS_GSTOP_NONCANON);
}

static void test_trim_guest(void **state)
{
	char path[] = "/tmp/test_cs_trimXXXXXX";
	struct cs_symtab *t;
	struct verr e;
	int fd = mkstemp(path);
	(void)state;
	assert_true(fd >= 0);
	close(fd);
	write_file(path, "ffffffff80001000 T alpha\n"
			 "ffffffff80001100 T ret_from_fork_kernel\n"
			 "ffffffff80001200 T beta\n");
	assert_int_equal(cs_symtab_load(&t, path, &e), 0);
	uint64_t f[5] = { 0xffffffff80001010ull, 0xffffffff80001020ull, 0xffffffff80001104ull,
			  0xffffffff80001210ull, 0x43a0 };
	uint8_t stop = CS_GSTOP_END;
	/* Everything outer than the marker frame goes. */
	assert_int_equal(cs_trim_guest(t, false, f, 5, &stop), 3);
	assert_int_equal(stop, CS_GSTOP_MARKER);
	/* Under translation, outside the table's range (a module) is not judged. */
	f[2] = 0xffffffff80004000ull;
	stop = CS_GSTOP_END;
	assert_int_equal(cs_trim_guest(t, false, f, 3, &stop), 3);
	assert_int_equal(stop, CS_GSTOP_END);
	/* User addresses under translation: not the kernel table's business. */
	f[2] = 0x10636;
	stop = CS_GSTOP_END;
	assert_int_equal(cs_trim_guest(t, false, f, 3, &stop), 3);
	assert_int_equal(stop, CS_GSTOP_END);
	/* Bare translation (M-mode): outside the table is unknown code. */
	assert_int_equal(cs_trim_guest(t, true, f, 3, &stop), 2);
	assert_int_equal(stop, CS_GSTOP_UNKNOWN_CODE);
	cs_symtab_free(t);
	unlink(path);
}

/* True when some line of the file contains needle. */
static bool profile_has(const char *path, const char *needle)
{
	char line[512];
	bool found = false;
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, needle))
			found = true;
	fclose(f);
	return found;
}

static void test_user_symbols(void **state)
{
	char dir[] = "/tmp/test_cs_userXXXXXX", path[256], map[300], umap[300], wmap[300];
	struct cs_table *t;
	struct cs_symtab *kern, *user, *world;
	struct cs_sample s;
	struct verr e;
	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/p.txt", dir);
	snprintf(map, sizeof(map), "%s/System.map", dir);
	snprintf(umap, sizeof(umap), "%s/hello.map", dir);
	write_file(map, "ffffffff80001000 T kfunc\n");
	snprintf(wmap, sizeof(wmap), "%s/world.map", dir);
	write_file(umap, "0000000000010000 T main\n0000000000010100 T helper\n");
	/* A second program linked at the same addresses, as static programs are. */
	write_file(wmap, "0000000000010000 T wmain\n0000000000010100 T wfn\n");
	assert_int_equal(cs_symtab_load(&kern, map, &e), 0);
	assert_int_equal(cs_symtab_load(&user, umap, &e), 0);
	assert_int_equal(cs_symtab_load(&world, wmap, &e), 0);
	assert_int_equal(cs_table_create(&t, 1 << 20, 1), 0);
	/* The same user addresses in three address spaces, and a kernel sample. */
	for (unsigned as = 0xa; as <= 0xc; as++) {
		sample(&s, 1, 2);
		s.priv = 0;
		s.as = as;
		s.guest[0] = 0x10104;
		s.guest[1] = 0x10010;
		cs_table_add(t, &s, 0);
	}
	sample(&s, 2, 1);
	s.guest[0] = 0xffffffff80001010ull;
	cs_table_add(t, &s, 0);
	assert_int_equal(cs_table_entries(t), 4);
	/* hello's code was seen in a (and not in b); world's in b (and not in c). */
	uint64_t as[2] = { 0xa, 0xb }, was[2] = { 0xb, 0xc };
	uint32_t match[2] = { 3, 0 }, mismatch[2] = { 0, 2 };
	uint32_t wmatch[2] = { 4, 1 }, wmismatch[2] = { 0, 3 };
	struct cs_user u[2] = { { user, "hello", umap, 2, as, match, mismatch },
				{ world, "world", wmap, 2, was, wmatch, wmismatch } };
	struct cs_meta m = { .buildtype = "obj", .hz = CS_HZ, .user = u, .nuser = 2 };
	assert_int_equal(cs_write_profile(path, t, &m, NULL, kern, &e), 0);
	/* Recognised: each its own program's names; not: [user] and the address; kernel: kept. */
	assert_true(profile_has(path, " g 1 10104 hello:helper 10100 "));
	assert_true(profile_has(path, " g 0 10010 hello:main 10000 "));
	assert_true(profile_has(path, " g 1 10104 world:wfn 10100 "));
	assert_true(profile_has(path, " g 0 10010 world:wmain 10000 "));
	assert_true(profile_has(path, " g 1 10104 [user]+0x10104 10104 -"));
	assert_true(profile_has(path, " g 1 ffffffff80001010 kfunc ffffffff80001000 "));
	assert_true(profile_has(path, "guest_user_as a hello 3 0\n"));
	assert_true(profile_has(path, "guest_user_as b - 0 2\n"));
	assert_true(profile_has(path, "guest_user_as b world 4 0\n"));
	assert_true(profile_has(path, "guest_user_as c - 1 3\n"));
	/* Without a user table every user frame is [user]: never the kernel's names. */
	m.user = NULL;
	m.nuser = 0;
	assert_int_equal(cs_write_profile(path, t, &m, NULL, user, &e), 0);
	assert_true(profile_has(path, " g 1 10104 [user]+0x10104 10104 -"));
	assert_false(profile_has(path, "helper"));
	unlink(path);
	unlink(map);
	unlink(umap);
	unlink(wmap);
	rmdir(dir);
	cs_symtab_free(kern);
	cs_symtab_free(user);
	cs_symtab_free(world);
	cs_table_free(t);
}

static uint64_t fake_time(void *ctx) { (void)ctx; return 0; }

static void test_peek_sv39(void **state)
{
	struct guest_ram ram;
	struct bus bus;
	struct hart_platform plat = { 0 };
	struct hart *h;
	struct verr err;
	uint64_t v = 0;
	(void)state;
	assert_int_equal(ram_create(&ram, BASE, 1 << 20, &err), 0);
	bus_init(&bus, &ram);
	plat.bus = &bus;
	plat.time = fake_time;
	plat.timebase_hz = 10000000;
	assert_int_equal(hart_create(&h, 0, &plat, &err), 0);
	hart_reset(h, BASE);
	uint8_t *m = ram_ptr(&ram, BASE, 1 << 20);
	uint64_t data = 0x1122334455667788ull;
	memcpy(m + 0x5008, &data, 8);

	/* M-mode: bare. */
	assert_int_equal(hart_peek_priv(h), PRIV_M);
	assert_true(hart_peek_virt(h, BASE + 0x5008, &v, 8));
	assert_int_equal(v, data);
	assert_false(hart_peek_virt(h, 0x1000, &v, 8));   /* not RAM */

	/* S-mode, Sv39: VA 0x40005000 -> PA BASE+0x5000 via root 0x1000, L1 0x2000, L0 0x3000. */
	uint64_t root = BASE + 0x1000, l1 = BASE + 0x2000, l0 = BASE + 0x3000;
	uint64_t pte;
	pte = ((l1 >> 12) << 10) | 1;
	memcpy(m + 0x1000 + 1 * 8, &pte, 8);               /* VPN2 = 1 */
	pte = ((l0 >> 12) << 10) | 1;
	memcpy(m + 0x2000 + 0 * 8, &pte, 8);               /* VPN1 = 0 */
	uint64_t leaf = (((BASE + 0x5000) >> 12) << 10) | 0x3;  /* V R, no A/D */
	memcpy(m + 0x3000 + 5 * 8, &leaf, 8);              /* VPN0 = 5 */
	struct hart_state *s = hart_state(h);
	s->satp = (8ull << 60) | (root >> 12);
	s->priv = PRIV_S;
	assert_int_equal(hart_peek_priv(h), PRIV_S);
	assert_true(hart_peek_virt(h, 0x40005008ull, &v, 8));
	assert_int_equal(v, data);
	/* Reading set no A bit: the guest's page tables are untouched. */
	memcpy(&pte, m + 0x3000 + 5 * 8, 8);
	assert_int_equal(pte, leaf);
	/* Unmapped neighbour and a read crossing into it fail without a trap. */
	assert_false(hart_peek_virt(h, 0x40006000ull, &v, 8));
	assert_false(hart_peek_virt(h, 0x40005ffcull, &v, 8));
	assert_false(hart_peek_virt(h, 0x8000000000ull, &v, 8));   /* non-canonical */
	assert_int_equal(s->mcause, 0);
	assert_int_equal(s->scause, 0);
	hart_destroy(h);
	ram_destroy(&ram);
}

static void test_write_profile(void **state)
{
	char dir[] = "/tmp/test_cs_profXXXXXX", path[256], line[512];
	struct cs_table *t;
	struct cs_symtab *self;
	struct cs_sample s;
	struct cs_meta m = { .buildtype = "obj", .hz = CS_HZ };
	struct verr e;
	bool named = false, ended = false;
	unsigned stacks = 0;
	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/p.txt", dir);
	assert_int_equal(cs_table_create(&t, 1 << 20, 1), 0);
	assert_int_equal(cs_symtab_self(&self, &e), 0);
	sample(&s, 1, 2);
	s.mon[0] = (uint64_t)(uintptr_t)test_write_profile + 4;
	cs_table_add(t, &s, 0);
	cs_table_add(t, &s, 0);
	assert_int_equal(cs_write_profile(path, t, &m, self, NULL, &e), 0);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	assert_string_equal(line, "vmx3-callstack 1\n");
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, " m 1 ") && strstr(line, "test_write_profile"))
			named = true;
		if (!strncmp(line, "stack 2 0 1 1 0 ", 16))
			stacks++;
		if (!strcmp(line, "end\n"))
			ended = true;
	}
	fclose(f);
	assert_true(named);
	assert_int_equal(stacks, 1);
	assert_true(ended);
	unlink(path);
	rmdir(dir);
	cs_symtab_free(self);
	cs_table_free(t);
}

/*
 * Exact guest samples keep their instruction bits, once per (pc, bits), in a
 * bounded share of the cap; block-boundary samples keep none; the writer
 * lists them sorted by address.
 */
static void test_gcode_words(void **state)
{
	char dir[] = "/tmp/test_cs_gcodeXXXXXX", path[256], line[512];
	struct cs_table *t;
	struct cs_sample s;
	struct cs_meta m = { .buildtype = "obj", .hz = CS_HZ };
	struct verr e;
	unsigned lines = 0, words = 0;
	unsigned long long prev = 0, dropped = ~0ull;
	bool sorted = true, compressed = false;
	(void)state;
	assert_int_equal(cs_table_create(&t, 64 * 1024, 1), 0);
	sample(&s, 1, 3);
	s.pc_exact = 1;
	s.graw = 0x02c50533;      /* mul a0,a0,a2 */
	cs_table_add(t, &s, 0);
	cs_table_add(t, &s, 0);
	assert_int_equal(cs_table_gcode_count(t), 1);
	s.graw = 0x0505;          /* other code at the same address (another process) */
	cs_table_add(t, &s, 0);
	assert_int_equal(cs_table_gcode_count(t), 2);
	s.guest[0] -= 2;
	s.pc_exact = 0;           /* only the block's start: no word */
	cs_table_add(t, &s, 0);
	assert_int_equal(cs_table_gcode_count(t), 2);

	/* Far more distinct pcs than its share holds: kept ones stay, the rest are counted. */
	for (unsigned i = 0; i < 5000; i++) {
		sample(&s, 7, 1);
		s.guest[0] = 0x90000000ull - 4 * i;
		s.pc_exact = 1;
		s.graw = 0x00150513;
		cs_table_add(t, &s, 0);
	}
	unsigned kept = cs_table_gcode_count(t);
	assert_true(kept > 100 && kept < 5002);
	assert_int_equal(cs_table_gcode_drops(t), 5002 - kept);
	assert_true(cs_table_footprint(t) <= 64 * 1024);

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/p.txt", dir);
	assert_int_equal(cs_write_profile(path, t, &m, NULL, NULL, &e), 0);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long long a, raw;
		char rs[16];
		if (sscanf(line, "gcode_words %u", &words) == 1 ||
		    sscanf(line, "gcode_dropped %llu", &dropped) == 1)
			continue;
		if (sscanf(line, "gcode %llx %15s", &a, rs) == 2) {
			raw = strtoull(rs, NULL, 16);
			sorted &= a >= prev;
			prev = a;
			lines++;
			if (a == 0x80000040ull && raw == 0x0505 && !strcmp(rs, "0505"))
				compressed = true;
		}
	}
	fclose(f);
	assert_int_equal(lines, kept);
	assert_int_equal(words, kept);
	assert_int_equal(dropped, 5002 - kept);
	assert_true(sorted);
	assert_true(compressed);
	unlink(path);
	rmdir(dir);
	cs_table_free(t);
}

/* Where the sampled thread spends its time in the end-to-end test. */
static volatile uint64_t sink;
__attribute__((noinline)) static void cs_test_busy(uint64_t ns)
{
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	do {
		for (unsigned i = 0; i < 100000; i++)
			sink += i;
		clock_gettime(CLOCK_MONOTONIC, &b);
	} while ((uint64_t)(b.tv_sec - a.tv_sec) * 1000000000ull + (uint64_t)b.tv_nsec -
		 (uint64_t)a.tv_nsec < ns);
}

/*
 * The real timer and signal handler on this thread: a hart published as
 * running, whose guest stack in RAM holds two frame records, and a busy
 * host function.  The profile must name the host function and carry the
 * guest chain pc, ra1, ra2.
 */
static void test_sampling_end_to_end(void **state)
{
	struct guest_ram ram;
	struct bus bus;
	struct hart_platform plat = { 0 };
	struct hart *h;
	struct verr err;
	char dir[] = "/tmp/test_cs_e2eXXXXXX", cmd[512], line[1024];
	(void)state;
	assert_int_equal(ram_create(&ram, BASE, 1 << 20, &err), 0);
	bus_init(&bus, &ram);
	plat.bus = &bus;
	plat.time = fake_time;
	plat.timebase_hz = 10000000;
	assert_int_equal(hart_create(&h, 0, &plat, &err), 0);
	hart_reset(h, BASE + 0x100);
	/* fp = BASE+0x8000: [fp-8] = 0x80000222 (ra), [fp-16] = BASE+0x8100 (caller fp);
	 * [0x8100-8] = 0x80000333, [0x8100-16] = 0 (end). */
	uint8_t *m = ram_ptr(&ram, BASE, 1 << 20);
	uint64_t w[2] = { BASE + 0x8100, 0x80000222ull };
	memcpy(m + 0x8000 - 16, w, 16);
	uint64_t w2[2] = { 0, 0x80000333ull };
	memcpy(m + 0x8100 - 16, w2, 16);
	hart_set_xreg(h, 8, BASE + 0x8000);
	hart_set_xreg(h, 2, BASE + 0x7f00);
	assert_non_null(mkdtemp(dir));
	assert_int_equal(cs_start(NULL, dir, &err), 0);
	assert_non_null(strstr(cs_profile_path(), dir));
	hart_current = h;
	cs_test_busy(600000000ull);
	hart_current = NULL;
	cs_stop();

	snprintf(cmd, sizeof(cmd), "cat %s/stats/callstack-*.txt", dir);
	FILE *f = popen(cmd, "r");
	unsigned long long samples = 0;
	bool busy = false, g1 = false, g2 = false, g3 = false, ended = false;
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "samples %llu", &samples);
		if (strstr(line, " m 1 ") && strstr(line, "cs_test_busy"))
			busy = true;
		if (strstr(line, " g 1 80000100 "))
			g1 = true;
		if (strstr(line, " g 0 80000222 "))
			g2 = true;
		if (strstr(line, " g 0 80000333 "))
			g3 = true;
		if (!strcmp(line, "end\n"))
			ended = true;
	}
	pclose(f);
	/* 97 Hz for 0.6 s is about 58; leave room for a loaded host. */
	assert_true(samples >= 20);
	assert_true(g1 && g2 && g3);
	assert_true(ended);
	/* The monitor's leaf frame names the busy loop (from its own .symtab). */
	assert_true(busy);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	hart_destroy(h);
	ram_destroy(&ram);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_symtab_text),
		cmocka_unit_test(test_symtab_console_and_self),
		cmocka_unit_test(test_table_merge_and_cap),
		cmocka_unit_test(test_gcode_words),
		cmocka_unit_test(test_walk_guest),
		cmocka_unit_test(test_trim_guest),
		cmocka_unit_test(test_user_symbols),
		cmocka_unit_test(test_peek_sv39),
		cmocka_unit_test(test_write_profile),
		cmocka_unit_test(test_sampling_end_to_end),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
