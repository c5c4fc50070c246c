/*
 * test_cs_kallsyms.c - the guest kernel's symbols decoded from its Image
 * (src/stats/cs_kallsyms.c), on synthetic images built here in the three
 * table layouts the decoder knows (6.4+ offsets after the token index, older
 * offsets before the count, absolute addresses): names and addresses come
 * back exactly, only functions reach the symbol table, and truncated or
 * corrupted images fail cleanly with a message, never crash, and never
 * yield unsorted or out-of-range symbols; the cache of decoded symbols
 * (src/stats/cs_kcache.c) is used only for the Image it was made from and
 * only when whole.
 */
#define VMX_STATS 1
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>
#include <cmocka.h>
#include "stats/cs_kallsyms.h"

#define BASE CS_KERNEL_LINK_BASE
#define NSYM 600                /* three markers */
#define IMG_CAP (256 * 1024)
#define IMAGE_SIZE 0x30000      /* header's image_size: .bss beyond the file */

enum layout { L_NEW, L_OLD, L_ABS };

struct img {
	uint8_t b[IMG_CAP];
	size_t len, tables_end;
	uint64_t addr[NSYM];
	char type[NSYM];
	char name[NSYM][256];
	size_t off_tt, off_index, off_markers, off_addrs, off_count;
};

static void put(struct img *m, const void *p, size_t n)
{
	assert_true(m->len + n <= IMG_CAP);
	memcpy(m->b + m->len, p, n);
	m->len += n;
}
static void put32(struct img *m, uint32_t v) { put(m, &v, 4); }   /* little-endian host */
static void put64(struct img *m, uint64_t v) { put(m, &v, 8); }
static void align(struct img *m, size_t a)
{
	while (m->len % a)
		m->b[m->len++] = 0;
}

/* Token t: printable characters stand for themselves; the rest are pieces. */
static const char *token(unsigned t, char *buf)
{
	static const char *pieces[] = { "fn_", "do_", "sys_", "_init", "lock", "irq" };
	if (t >= 0x21 && t < 0x7f) {
		buf[0] = (char)t;
		buf[1] = 0;
	} else if (t < VMX_ARRAY_SIZE(pieces)) {
		strcpy(buf, pieces[t]);
	} else {
		snprintf(buf, 8, "~%02x", t);
	}
	return buf;
}

/* Type letter + name, compressed: "fn_" as token 0, every other char as itself. */
static void put_name(struct img *m, char type, const char *name)
{
	uint8_t enc[600];
	size_t n = 0;
	enc[n++] = (uint8_t)type;
	for (const char *p = name; *p;) {
		if (!strncmp(p, "fn_", 3)) {
			enc[n++] = 0;
			p += 3;
		} else {
			enc[n++] = (uint8_t)*p++;
		}
	}
	if (n < 128) {
		uint8_t l = (uint8_t)n;
		put(m, &l, 1);
	} else {
		uint8_t l[2] = { (uint8_t)(0x80 | (n & 0x7f)), (uint8_t)(n >> 7) };
		put(m, l, 2);
	}
	put(m, enc, n);
}

static void make_symbols(struct img *m)
{
	/* Text from 0x1000 (_stext) to 0x9000 (_etext), data after it. */
	for (unsigned i = 0; i < NSYM; i++) {
		m->addr[i] = BASE + 0x1000 + i * 0x20;
		m->type[i] = (i % 3) ? 't' : 'T';
		snprintf(m->name[i], sizeof(m->name[i]), "fn_%03u", i);
	}
	strcpy(m->name[0], "_stext");
	m->addr[10] = m->addr[9];                 /* an alias: T wins over t */
	m->type[9] = 't';
	m->type[10] = 'T';
	strcpy(m->name[10], "alias_global");
	m->type[20] = 'W';                        /* weak, in text: a function */
	strcpy(m->name[20], "weak_func");
	m->type[30] = 'd';                        /* data between functions */
	strcpy(m->name[30], "some_data");
	memset(m->name[40], 'x', 200);            /* a name needing a 2-byte length */
	m->name[40][200] = 0;
	strcpy(m->name[500], "_etext");
	m->type[500] = 'T';
	for (unsigned i = 501; i < NSYM; i++)
		m->type[i] = 'd';
	m->type[550] = 'W';                       /* weak data: not a function */
	strcpy(m->name[550], "weak_object");
	m->addr[NSYM - 1] = BASE + IMAGE_SIZE;     /* _end: the end of .bss */
	strcpy(m->name[NSYM - 1], "_end");
	m->type[NSYM - 1] = 'B';
}

static void put_names_markers_tokens(struct img *m)
{
	uint32_t markers[(NSYM + 255) / 256];
	size_t names = m->len;
	for (unsigned i = 0; i < NSYM; i++) {
		if (i % 256 == 0)
			markers[i / 256] = (uint32_t)(m->len - names);
		put_name(m, m->type[i], m->name[i]);
	}
	align(m, 8);
	m->off_markers = m->len;
	for (unsigned i = 0; i < VMX_ARRAY_SIZE(markers); i++)
		put32(m, markers[i]);
	align(m, 8);
	uint16_t idx[256];
	size_t tt = m->len;
	m->off_tt = tt;
	for (unsigned t = 0; t < 256; t++) {
		char buf[16];
		idx[t] = (uint16_t)(m->len - tt);
		token(t, buf);
		put(m, buf, strlen(buf) + 1);
	}
	align(m, 8);
	m->off_index = m->len;
	put(m, idx, sizeof(idx));
}

static void build(struct img *m, enum layout l)
{
	memset(m, 0, sizeof(*m));
	make_symbols(m);
	/* A riscv64 Image header: image_size at 16, magic at 56. */
	uint64_t isz = IMAGE_SIZE;
	memcpy(m->b + 16, &isz, 8);
	memcpy(m->b + 56, "RSC\x05", 4);
	/* Some "code" that is not a table. */
	for (m->len = 64; m->len < 0x9000; m->len++)
		m->b[m->len] = (uint8_t)(m->len * 7 + (m->len >> 8));
	if (l == L_NEW) {
		m->off_count = m->len;
		put32(m, NSYM);
		align(m, 8);
		put_names_markers_tokens(m);
		m->off_addrs = m->len;
		for (unsigned i = 0; i < NSYM; i++)
			put32(m, (uint32_t)(m->addr[i] - BASE));
		align(m, 8);
		put64(m, BASE);
	} else {
		m->off_addrs = m->len;
		for (unsigned i = 0; i < NSYM; i++) {
			if (l == L_ABS)
				put64(m, m->addr[i]);
			else
				put32(m, (uint32_t)(m->addr[i] - BASE));
		}
		if (l == L_OLD) {
			align(m, 8);
			put64(m, BASE);
		}
		m->off_count = m->len;
		put64(m, NSYM);
		put_names_markers_tokens(m);
	}
	m->tables_end = m->len;
	/* More rodata after the tables. */
	for (unsigned i = 0; i < 4096; i++)
		m->b[m->len++] = (uint8_t)(i * 13);
}

static struct img *new_img(enum layout l)
{
	struct img *m = malloc(sizeof(*m));
	assert_non_null(m);
	build(m, l);
	return m;
}

static void check_decoded(const struct img *m, const struct cs_kallsyms *k)
{
	assert_int_equal(k->n, NSYM);
	for (unsigned i = 0; i < NSYM; i++) {
		assert_int_equal(k->v[i].addr, m->addr[i]);
		assert_int_equal(k->v[i].type, m->type[i]);
		assert_string_equal(k->names + k->v[i].name, m->name[i]);
	}
}

static void test_layouts(void **state)
{
	static const struct { enum layout l; const char *name; } cases[] = {
		{ L_NEW, "offsets-after-index" },
		{ L_OLD, "offsets-before-count" },
		{ L_ABS, "absolute" },
	};
	(void)state;
	for (unsigned c = 0; c < VMX_ARRAY_SIZE(cases); c++) {
		struct img *m = new_img(cases[c].l);
		struct cs_kallsyms k;
		struct verr e = { { 0 } };
		assert_int_equal(cs_kallsyms_decode(m->b, m->len, BASE, &k, &e), 0);
		check_decoded(m, &k);
		assert_string_equal(k.layout, cases[c].name);
		assert_int_equal(k.off_token_index, m->off_index);
		assert_int_equal(k.off_markers, m->off_markers);
		assert_int_equal(k.off_addrs, m->off_addrs);
		assert_int_equal(k.text_lo, m->addr[0]);
		assert_int_equal(k.text_hi, m->addr[500]);
		assert_true(cs_kallsyms_is_text(&k, 1));     /* t */
		assert_true(cs_kallsyms_is_text(&k, 3));     /* T */
		assert_true(cs_kallsyms_is_text(&k, 20));    /* W inside text */
		assert_false(cs_kallsyms_is_text(&k, 30));   /* d */
		assert_false(cs_kallsyms_is_text(&k, 550));  /* W outside text */
		assert_false(cs_kallsyms_is_text(&k, NSYM - 1));
		cs_kallsyms_free(&k);
		free(m);
	}
}

static void test_symtab(void **state)
{
	struct img *m = new_img(L_NEW);
	struct cs_kallsyms k;
	struct cs_symtab *t;
	struct verr e;
	uint64_t start, end;
	(void)state;
	assert_int_equal(cs_kallsyms_decode(m->b, m->len, BASE, &k, &e), 0);
	assert_int_equal(cs_kallsyms_symtab(&t, &k, &e), 0);
	/* 501 text symbols (0..500), minus the data one and one alias of a pair. */
	assert_int_equal(cs_symtab_count(t), 501 - 1 - 1);
	assert_string_equal(cs_symtab_lookup_range(t, m->addr[5] + 4, &start, &end), "fn_005");
	assert_int_equal(start, m->addr[5]);
	assert_int_equal(end, m->addr[6]);
	assert_string_equal(cs_symtab_lookup(t, m->addr[9], NULL), "alias_global");
	assert_string_equal(cs_symtab_lookup(t, m->addr[20] + 0x1f, NULL), "weak_func");
	/* fn_029 ends where some_data starts; the data itself is nobody's. */
	assert_string_equal(cs_symtab_lookup_range(t, m->addr[29], NULL, &end), "fn_029");
	assert_int_equal(end, m->addr[30]);
	assert_null(cs_symtab_lookup(t, m->addr[30] + 8, NULL));
	assert_null(cs_symtab_lookup(t, BASE, NULL));
	/* _etext is a T symbol; it ends at the first data symbol after it. */
	assert_null(cs_symtab_lookup(t, m->addr[501] + 4, NULL));
	cs_symtab_free(t);
	cs_kallsyms_free(&k);
	free(m);
}

/* Every prefix of the image: success exactly when all tables are inside it. */
static void test_truncated(void **state)
{
	(void)state;
	for (enum layout l = L_NEW; l <= L_ABS; l++) {
		struct img *m = new_img(l);
		for (size_t cut = 0; cut <= m->len; cut += (cut + 64 >= m->tables_end && cut < m->tables_end + 64) ? 1 : 61) {
			struct cs_kallsyms k;
			struct verr e = { { 0 } };
			uint8_t *copy = malloc(cut ? cut : 1);   /* exact size: ASan sees any overread */
			assert_non_null(copy);
			memcpy(copy, m->b, cut);
			int rc = cs_kallsyms_decode(copy, cut, BASE, &k, &e);
			if (cut >= m->tables_end) {
				assert_int_equal(rc, 0);
				check_decoded(m, &k);
				cs_kallsyms_free(&k);
			} else {
				assert_int_equal(rc, -ENOENT);
				assert_non_null(strstr(e.msg, "kallsyms"));
			}
			free(copy);
		}
		free(m);
	}
}

static int decode_fails(struct img *m, const char *why)
{
	struct cs_kallsyms k;
	struct verr e = { { 0 } };
	int rc = cs_kallsyms_decode(m->b, m->len, BASE, &k, &e);
	if (rc == 0)
		cs_kallsyms_free(&k);
	else if (why)
		assert_non_null(strstr(e.msg, why));
	return rc;
}

/* Each kind of inconsistency makes the candidate fail, with a message. */
static void test_corrupted(void **state)
{
	struct img *m = new_img(L_NEW);
	uint32_t v;
	(void)state;
	/* Unsorted addresses. */
	memcpy(&v, m->b + m->off_addrs + 4 * 100, 4);
	v += 0x100;
	memcpy(m->b + m->off_addrs + 4 * 100, &v, 4);
	assert_int_equal(decode_fails(m, "sorted"), -ENOENT);
	/* An address past the image's virtual end. */
	build(m, L_NEW);
	v = IMAGE_SIZE + 4;
	memcpy(m->b + m->off_addrs + 4 * (NSYM - 1), &v, 4);
	assert_int_equal(decode_fails(m, "inside"), -ENOENT);
	/* A marker that does not match the names. */
	build(m, L_NEW);
	m->b[m->off_markers + 4] ^= 1;
	assert_int_equal(decode_fails(m, NULL), -ENOENT);
	/* A symbol count the markers do not cover. */
	build(m, L_NEW);
	v = NSYM + 256;
	memcpy(m->b + m->off_count, &v, 4);
	assert_int_equal(decode_fails(m, "names"), -ENOENT);
	/* A name running past the names stream (its length byte raised). */
	build(m, L_NEW);
	m->b[m->off_count + 8 + 1 + m->b[m->off_count + 8]] = 0x7f;
	assert_int_equal(decode_fails(m, NULL), -ENOENT);
	/* A token index that does not match the token table. */
	build(m, L_NEW);
	m->b[m->off_index + 2 * 100] += 1;
	assert_int_equal(decode_fails(m, "token"), -ENOENT);
	/* A non-printable byte inside a token. */
	build(m, L_NEW);
	m->b[m->off_tt] = 0x01;
	assert_int_equal(decode_fails(m, NULL), -ENOENT);
	free(m);
}

/* Random corruption of the tables: never a crash, never an invalid result. */
static void test_fuzzed(void **state)
{
	struct img *m = malloc(sizeof(*m));
	uint32_t seed = 12345;
	unsigned ok = 0;
	(void)state;
	assert_non_null(m);
	for (unsigned iter = 0; iter < 600; iter++) {
		build(m, (enum layout)(iter % 3));
		size_t lo = 0x9000, span = m->tables_end - lo;
		for (unsigned f = 0; f < 1 + iter % 4; f++) {
			seed = seed * 1103515245u + 12345u;
			m->b[lo + (seed >> 8) % span] = (uint8_t)(seed >> 3);
		}
		struct cs_kallsyms k;
		struct verr e;
		if (cs_kallsyms_decode(m->b, m->len, BASE, &k, &e) < 0)
			continue;
		ok++;
		assert_true(k.n > 0);
		for (size_t i = 0; i < k.n; i++) {
			assert_true(k.v[i].addr >= BASE && k.v[i].addr <= BASE + IMAGE_SIZE);
			assert_true(i == 0 || k.v[i].addr >= k.v[i - 1].addr);
			assert_true(strlen(k.names + k.v[i].name) > 0);
		}
		struct cs_symtab *t;
		if (cs_kallsyms_symtab(&t, &k, &e) == 0)
			cs_symtab_free(t);
		cs_kallsyms_free(&k);
	}
	/* Flips in names bytes that stay valid token numbers still decode (to other names). */
	assert_true(ok > 0 && ok < 600);
	free(m);
}

static void test_from_file(void **state)
{
	char path[] = "/tmp/test_cs_kallsymsXXXXXX";
	struct img *m = new_img(L_NEW);
	struct cs_symtab *t;
	struct verr e;
	int fd = mkstemp(path);
	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, m->b, m->len), (ssize_t)m->len);
	assert_int_equal(cs_symtab_from_kernel_image(&t, path, BASE, &e), 0);
	assert_string_equal(cs_symtab_lookup(t, m->addr[7] + 2, NULL), "fn_007");
	cs_symtab_free(t);
	/* Wrong link base: the addresses are outside [base, base + size]. */
	assert_int_equal(cs_symtab_from_kernel_image(&t, path, BASE - 0x100000000ull, &e), -ENOENT);
	assert_non_null(strstr(e.msg, path));
	/* Garbage and an empty file. */
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(cs_symtab_from_kernel_image(&t, path, BASE, &e), -EINVAL);
	assert_non_null(strstr(e.msg, path));
	assert_int_equal(pwrite(fd, m->b, 0x9000, 0), 0x9000);
	assert_int_equal(cs_symtab_from_kernel_image(&t, path, BASE, &e), -ENOENT);
	assert_non_null(strstr(e.msg, "no kallsyms token table"));
	close(fd);
	unlink(path);
	assert_int_equal(cs_symtab_from_kernel_image(&t, path, BASE, &e), -ENOENT);
	assert_non_null(strstr(e.msg, path));
	free(m);
}

/* Entries in address order and out of it give the same table; a duplicate start keeps the sized one. */
static void test_entries_order(void **state)
{
	static const struct cs_symbol in_order[] = {
		{ 0x1000, 0x1100, "a" }, { 0x1100, 0, "b" }, { 0x1100, 0x1180, "b_sized" },
		{ 0x1200, 0x1300, "c" },
	};
	static const struct cs_symbol shuffled[] = {
		{ 0x1200, 0x1300, "c" }, { 0x1100, 0, "b" }, { 0x1000, 0x1100, "a" },
		{ 0x1100, 0x1180, "b_sized" },
	};
	const struct cs_symbol *sets[] = { in_order, shuffled };
	(void)state;
	for (unsigned i = 0; i < 2; i++) {
		struct cs_symtab *t;
		struct verr e;
		assert_int_equal(cs_symtab_from_entries(&t, sets[i], 4, &e), 0);
		assert_string_equal(cs_symtab_lookup(t, 0x1010, NULL), "a");
		assert_string_equal(cs_symtab_lookup(t, 0x1110, NULL), "b_sized");
		assert_null(cs_symtab_lookup(t, 0x11f0, NULL));
		assert_string_equal(cs_symtab_lookup(t, 0x12ff, NULL), "c");
		cs_symtab_free(t);
	}
}

/*
 * The file reader finds the tables by reading the image in 1 MB chunks and
 * then a window around the index: the index placed across and around a
 * chunk boundary, behind bytes that are not tables, still decodes to the
 * same symbols, in every layout.
 */
static void test_from_file_chunks(void **state)
{
	static const size_t before_boundary[] = { 700, 512, 511, 300, 256, 255, 2, 0 };
	(void)state;
	for (enum layout l = L_NEW; l <= L_ABS; l++) {
		struct img *m = new_img(l);
		for (size_t i = 0; i < sizeof(before_boundary) / sizeof(before_boundary[0]); i++) {
			char path[] = "/tmp/test_cs_kallsymsXXXXXX";
			/* Padding in 8s: the tables' alignment is the file's. */
			size_t pad = ((1u << 20) - before_boundary[i] - m->off_index) & ~(size_t)7;
			uint8_t *junk = malloc(pad);
			struct cs_symtab *t;
			struct verr e = { { 0 } };
			int fd = mkstemp(path);
			assert_true(fd >= 0);
			assert_non_null(junk);
			/* Not zeros: bytes the probe must look at and reject. */
			for (size_t j = 0; j < pad; j++)
				junk[j] = (uint8_t)(j * 2654435761u >> 13);
			/* The image header (its size covers the symbols' addresses) stays first. */
			memcpy(junk, m->b, 64);
			assert_int_equal(write(fd, junk, pad), (ssize_t)pad);
			assert_int_equal(write(fd, m->b, m->len), (ssize_t)m->len);
			struct cs_kallsyms k;
			/* The chunked reader itself, not the whole-image fallback behind it. */
			assert_int_equal(cs_kallsyms_decode_fd(fd, pad + m->len, BASE, &k), 0);
			check_decoded(m, &k);
			assert_int_equal(k.off_token_index, pad + m->off_index);
			cs_kallsyms_free(&k);
			int rc = cs_symtab_from_kernel_image(&t, path, BASE, &e);
			if (rc)
				print_error("layout %d, index %zu bytes before 1 MB: %s\n", (int)l,
					    before_boundary[i], e.msg);
			assert_int_equal(rc, 0);
			assert_string_equal(cs_symtab_lookup(t, m->addr[7] + 2, NULL), "fn_007");
			const char *late = cs_symtab_lookup(t, m->addr[499] + 4, NULL);
			assert_non_null(late);
			assert_string_equal(late, "fn_499");
			cs_symtab_free(t);
			close(fd);
			unlink(path);
			free(junk);
		}
		free(m);
	}
}

/*
 * The decoded-symbol cache (cs_kcache.c): a second read of the same Image
 * comes from the cache with the same symbols; an Image changed in place, a
 * cache flipped, cut short, emptied or made of garbage, and a cache whose
 * CRC holds but whose table does not, are all misses that decode the Image
 * again (and never crash or give other names); a cache that cannot be
 * written costs nothing but the decode.
 */
static void write_file(const char *path, const void *p, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *b;
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	*len = (size_t)ftell(f);
	rewind(f);
	b = malloc(*len + 1);
	assert_non_null(b);
	assert_int_equal(fread(b, 1, *len, f), *len);
	fclose(f);
	return b;
}

/* A lookup through the cache; *cached says whether it hit. */
static const char *cached_lookup(const char *img, const char *cache, uint64_t addr, bool *cached)
{
	static char name[256];
	struct cs_symtab *t;
	struct verr e = { { 0 } };
	const char *n;
	assert_int_equal(cs_symtab_from_kernel_cached(&t, img, BASE, cache, cached, &e), 0);
	n = cs_symtab_lookup(t, addr, NULL);
	snprintf(name, sizeof(name), "%s", n ? n : "(none)");
	cs_symtab_free(t);
	return name;
}

/* The cache takes an Image only once it has been still for a second. */
static void settle(void) { usleep(1100000); }

static void test_cache(void **state)
{
	char dir[] = "/tmp/test_cs_kcacheXXXXXX", img[128], cache[128];
	struct img *m = new_img(L_NEW), *o = new_img(L_OLD);
	bool cached;
	size_t len;
	char *good;
	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(img, sizeof(img), "%s/Image", dir);
	snprintf(cache, sizeof(cache), "%s/kallsyms.cache", dir);
	write_file(img, m->b, m->len);

	/* A fresh Image is decoded and not cached yet; a settled one is. */
	assert_string_equal(cached_lookup(img, cache, m->addr[7] + 2, &cached), "fn_007");
	assert_false(cached);
	assert_int_equal(access(cache, F_OK), -1);
	settle();
	assert_string_equal(cached_lookup(img, cache, m->addr[7] + 2, &cached), "fn_007");
	assert_false(cached);
	assert_int_equal(access(cache, F_OK), 0);
	assert_string_equal(cached_lookup(img, cache, m->addr[7] + 2, &cached), "fn_007");
	assert_true(cached);
	assert_string_equal(cached_lookup(img, cache, m->addr[499] + 4, &cached), "fn_499");
	assert_true(cached);
	good = read_file(cache, &len);

	/* Bad caches: a miss each time, the right names from the Image. */
	static const size_t flips[] = { 0, 9, 70, 100, 5000 };
	for (unsigned i = 0; i < VMX_ARRAY_SIZE(flips); i++) {
		char *bad = malloc(len);
		memcpy(bad, good, len);
		bad[flips[i] % len] ^= 0x40;
		write_file(cache, bad, len);
		assert_string_equal(cached_lookup(img, cache, m->addr[7] + 2, &cached), "fn_007");
		assert_false(cached);
		free(bad);
	}
	write_file(cache, good, len / 2);
	assert_string_equal(cached_lookup(img, cache, m->addr[7] + 2, &cached), "fn_007");
	assert_false(cached);
	write_file(cache, "", 0);
	assert_string_equal(cached_lookup(img, cache, m->addr[7] + 2, &cached), "fn_007");
	assert_false(cached);
	write_file(cache, m->b, m->len);
	assert_string_equal(cached_lookup(img, cache, m->addr[7] + 2, &cached), "fn_007");
	assert_false(cached);
	/* Each miss wrote a good cache again. */
	assert_string_equal(cached_lookup(img, cache, m->addr[7] + 2, &cached), "fn_007");
	assert_true(cached);

	/* The Image changed in place (another kernel, another layout): a miss, the new names. */
	write_file(img, o->b, o->len);
	settle();
	assert_string_equal(cached_lookup(img, cache, o->addr[7] + 2, &cached), "fn_007");
	assert_false(cached);
	assert_string_equal(cached_lookup(img, cache, o->addr[7] + 2, &cached), "fn_007");
	assert_true(cached);
	/* Same bytes, touched: the key changed, decoded again. */
	assert_int_equal(utimes(img, NULL), 0);
	settle();
	assert_string_equal(cached_lookup(img, cache, o->addr[7] + 2, &cached), "fn_007");
	assert_false(cached);

	/* No writable place for the cache: decoded every time, nothing else. */
	char nodir[160];
	snprintf(nodir, sizeof(nodir), "%s/missing/kallsyms.cache", dir);
	assert_string_equal(cached_lookup(img, nodir, o->addr[7] + 2, &cached), "fn_007");
	assert_false(cached);
	assert_string_equal(cached_lookup(img, NULL, o->addr[7] + 2, &cached), "fn_007");
	assert_false(cached);

	free(good);
	unlink(cache);
	unlink(img);
	rmdir(dir);
	free(m);
	free(o);
}

/* Tables from bytes: every size, order and offset is checked. */
static void test_blob(void **state)
{
	static const struct cs_symbol syms[] = {
		{ 0x1000, 0x1100, "a" }, { 0x1100, 0x1180, "bb" }, { 0x1200, 0x1300, "ccc" },
	};
	struct cs_symtab *t, *u;
	struct verr e;
	uint8_t *b, *c;
	size_t n;
	uint64_t v;
	(void)state;
	assert_int_equal(cs_symtab_from_entries(&t, syms, 3, &e), 0);
	n = cs_symtab_blob_size(t);
	b = malloc(n);
	c = malloc(n);
	cs_symtab_blob(t, b);
	assert_int_equal(cs_symtab_from_blob(&u, b, n, &e), 0);
	assert_int_equal(cs_symtab_count(u), 3);
	assert_string_equal(cs_symtab_lookup(u, 0x1150, NULL), "bb");
	assert_string_equal(cs_symtab_lookup(u, 0x12ff, NULL), "ccc");
	assert_null(cs_symtab_lookup(u, 0x1190, NULL));
	cs_symtab_free(u);
	/* Every shorter length, and one byte more. */
	for (size_t l = 0; l < n; l++)
		assert_int_equal(cs_symtab_from_blob(&u, b, l, &e), -EINVAL);
	memcpy(c, b, n);
	assert_int_equal(cs_symtab_from_blob(&u, c, n + 0, &e), 0);
	cs_symtab_free(u);
	/* Starts out of order (record 1's start below record 0's). */
	memcpy(c, b, n);
	v = 0x800;
	memcpy(c + 16 + CS_SYMTAB_REC, &v, 8);
	assert_int_equal(cs_symtab_from_blob(&u, c, n, &e), -EINVAL);
	/* A name offset past the names. */
	memcpy(c, b, n);
	v = 1000;
	memcpy(c + 16 + 2 * CS_SYMTAB_REC + 16, &v, 8);
	assert_int_equal(cs_symtab_from_blob(&u, c, n, &e), -EINVAL);
	/* Names not NUL-terminated. */
	memcpy(c, b, n);
	c[n - 1] = 'x';
	assert_int_equal(cs_symtab_from_blob(&u, c, n, &e), -EINVAL);
	/* A count that does not match the length. */
	memcpy(c, b, n);
	v = 1u << 30;
	memcpy(c, &v, 8);
	assert_int_equal(cs_symtab_from_blob(&u, c, n, &e), -EINVAL);
	free(b);
	free(c);
	cs_symtab_free(t);
}

/* The cache's place: $XDG_CACHE_HOME, else ~/.cache, else the VM's directory. */
static void test_cache_path(void **state)
{
	char dir[] = "/tmp/test_cs_kpathXXXXXX", out[512], want[512], other[512];
	char *home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
	(void)state;
	assert_non_null(mkdtemp(dir));
	setenv("XDG_CACHE_HOME", dir, 1);
	cs_kcache_path(out, sizeof(out), "/no/such/Image", "/vm/stats");
	snprintf(want, sizeof(want), "%s/vmx3/kallsyms/kallsyms-", dir);
	assert_memory_equal(out, want, strlen(want));
	cs_kcache_path(other, sizeof(other), "/no/such/Image2", "/vm/stats");
	assert_string_not_equal(out, other);
	unsetenv("XDG_CACHE_HOME");
	setenv("HOME", dir, 1);
	cs_kcache_path(out, sizeof(out), "/no/such/Image", "/vm/stats");
	snprintf(want, sizeof(want), "%s/.cache/vmx3/kallsyms/kallsyms-", dir);
	assert_memory_equal(out, want, strlen(want));
	unsetenv("HOME");
	cs_kcache_path(out, sizeof(out), "/no/such/Image", "/vm/stats");
	assert_memory_equal(out, "/vm/stats/kallsyms-", 19);
	cs_kcache_path(out, sizeof(out), "/no/such/Image", NULL);
	assert_string_equal(out, "");
	if (home) {
		setenv("HOME", home, 1);
		free(home);
	}
	snprintf(want, sizeof(want), "rm -rf %s", dir);
	assert_int_equal(system(want), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layouts),
		cmocka_unit_test(test_symtab),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_corrupted),
		cmocka_unit_test(test_fuzzed),
		cmocka_unit_test(test_from_file),
		cmocka_unit_test(test_from_file_chunks),
		cmocka_unit_test(test_entries_order),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_blob),
		cmocka_unit_test(test_cache_path),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
