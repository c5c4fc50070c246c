/*
 * cs_kallsyms.c - the guest kernel's function symbols, decoded from the
 * kallsyms tables inside the flat kernel Image the VM boots.
 *
 * Debian's riscv64 kernel ships no System.map, but every kernel built with
 * CONFIG_KALLSYMS carries its own symbol table in .rodata, and guest.kernel is
 * the very bytes the guest runs.  The tables (as the kernel's build emits
 * them; see the layouts below) are:
 *   token_table   256 NUL-terminated strings, the compression dictionary;
 *   token_index   256 u16 offsets of those strings in token_table;
 *   names         per symbol: a length (1 byte, or 2 when bit 7 is set, the
 *                 high part in the second byte) and that many token numbers;
 *                 the first expanded character is the nm-style type letter;
 *   markers       the names offset of every 256th symbol (u32, or u64 in
 *                 older kernels);
 *   num_syms      the symbol count, just before names;
 *   addresses     u32 offsets from a u64 relative_base (6.4+: right after
 *                 token_index; before: in front of num_syms), or plain u64
 *                 addresses in front of num_syms (kernels without
 *                 CONFIG_KALLSYMS_BASE_RELATIVE).
 * Nothing here trusts one magic value: the token index (a u16 array starting
 * at 0 whose steps are the token lengths) is the anchor, and every table
 * found from it must agree with the others - markers with the symbol count,
 * names decoding exactly onto the markers and ending at the markers, every
 * address sorted and inside the image's virtual range - or the candidate is
 * dropped.  The input is an arbitrary file: every read is bounds-checked.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "../lib/fileutil.h"
#include "cs_kallsyms.h"

#define KS_TOKENS 256
#define KS_MAX_TOKEN 512               /* bytes per token: the kernel's KSYM_NAME_LEN */
#define KS_MAX_NAME 1024               /* expanded name, type letter included */
#define KS_MAX_ENTRY (2 + KS_MAX_NAME) /* one names entry: length bytes and tokens */
#define KS_MAX_SYMS (1u << 24)
#define KS_MAX_PAD 8                   /* the tables are at most 8-byte aligned */
#define KS_MAX_IMAGE (1ull << 30)
#define KS_LAST_SPAN 4096              /* a last symbol with nothing after it */

/* riscv64 Image header: image_size at 16, magic "RSC\x05" at 56. */
#define KS_HDR_SIZE_OFF 16
#define KS_HDR_MAGIC_OFF 56
#define KS_HDR_MAGIC 0x05435352u

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* The image, and what has been established about one candidate so far. */
struct ks_scan {
	const uint8_t *img;
	size_t len;
	uint64_t base, vend;            /* virtual range [base, vend], _end included */
	/* token table and index */
	size_t tt, ti;
	uint16_t tidx[KS_TOKENS];
	uint16_t tlen[KS_TOKENS];
	/* markers */
	size_t mk, nmk;
	unsigned mes;                   /* 4 or 8 */
	/* names */
	size_t numpos, names, names_end;
	uint64_t n;
	/* the best failure so far: how far a candidate got, and why it stopped */
	int stage;
	char why[256];
};

static void fail_at(struct ks_scan *s, int stage, const char *fmt, ...) VMX_PRINTF(3, 4);
static void fail_at(struct ks_scan *s, int stage, const char *fmt, ...)
{
	va_list ap;
	if (stage < s->stage)
		return;
	s->stage = stage;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
}

static uint64_t marker(const struct ks_scan *s, size_t i)
{
	const uint8_t *p = s->img + s->mk + i * s->mes;
	return s->mes == 8 ? rd64(p) : rd32(p);
}

/* A u16 array at p: 0, then strictly increasing by plausible token sizes. */
static bool token_index_at(const struct ks_scan *s, size_t p)
{
	if (p > s->len || s->len - p < 2 * KS_TOKENS || s->img[p] || s->img[p + 1])
		return false;
	for (unsigned i = 1; i < KS_TOKENS; i++) {
		unsigned step = rd16(s->img + p + 2 * i) - rd16(s->img + p + 2 * (i - 1));
		if (rd16(s->img + p + 2 * i) <= rd16(s->img + p + 2 * (i - 1)) || step < 2 ||
		    step > KS_MAX_TOKEN + 1)
			return false;
	}
	return true;
}

/*
 * The scan for the token index probes every KS_PROBE bytes instead of
 * trying every even offset of a ~30 MB image: the index is 512 bytes, so
 * one probe lands in its first half, where the next KS_PROBE_RUN entries
 * rise in token-length steps.  From there the walk back to its 0 entry
 * finds where it starts; token_index_at then checks all of it.
 */
#define KS_PROBE 256
#define KS_PROBE_RUN 8

static bool index_step(const uint8_t *img, size_t a)
{
	unsigned lo = rd16(img + a), hi = rd16(img + a + 2);
	return hi > lo && hi - lo >= 2 && hi - lo <= KS_MAX_TOKEN + 1;
}

static bool index_start_near(const struct ks_scan *s, size_t q, size_t *start)
{
	if (q > s->len || s->len - q < 2 * KS_PROBE_RUN + 2)
		return false;
	for (unsigned i = 0; i < KS_PROBE_RUN; i++)
		if (!index_step(s->img, q + 2 * i))
			return false;
	/* An index has KS_TOKENS entries: its 0 is at most that many steps back. */
	for (unsigned back = 0; q >= 2 && rd16(s->img + q) && back < KS_TOKENS &&
			       index_step(s->img, q - 2); back++)
		q -= 2;
	if (rd16(s->img + q))
		return false;
	*start = q;
	return true;
}

/*
 * The token table ends just before the index (its last NUL, then at most 7
 * bytes of alignment); its strings must sit exactly where the index says,
 * each non-empty, printable and NUL-terminated.
 */
static bool token_table_before(struct ks_scan *s)
{
	const uint8_t *img = s->img;
	size_t p = s->ti, z = p, y;

	for (unsigned i = 0; i < KS_TOKENS; i++)
		s->tidx[i] = rd16(img + p + 2 * i);
	while (z > 0 && !img[z - 1] && p - (z - 1) <= KS_MAX_PAD)
		z--;
	if (z == p || z == 0 || !img[z - 1])
		return false;
	/* z: the last token's NUL; its first byte follows the previous NUL. */
	y = z - 1;
	while (y > 0 && img[y - 1] && z - y <= KS_MAX_TOKEN)
		y--;
	if (z - y > KS_MAX_TOKEN || y < s->tidx[KS_TOKENS - 1])
		return false;
	s->tt = y - s->tidx[KS_TOKENS - 1];
	for (unsigned i = 0; i < KS_TOKENS; i++) {
		size_t a = s->tt + s->tidx[i];
		size_t b = i + 1 < KS_TOKENS ? s->tt + s->tidx[i + 1] - 1 : z;
		if (b <= a || img[b])
			return false;
		for (size_t k = a; k < b; k++)
			if (img[k] <= 0x20 || img[k] >= 0x7f)
				return false;
		s->tlen[i] = (uint16_t)(b - a);
	}
	return true;
}

/*
 * Reads one names entry at *p (bounded by end): its token count.  0 when it
 * does not fit.
 */
static size_t name_entry(const struct ks_scan *s, size_t *p, size_t end)
{
	size_t l;
	if (*p >= end)
		return 0;
	l = s->img[(*p)++];
	if (l & 0x80) {
		if (*p >= end)
			return 0;
		l = (l & 0x7f) | (size_t)s->img[(*p)++] << 7;
	}
	if (!l || l > end - *p)
		return 0;
	return l;
}

/*
 * Whether N names from S decode onto the markers, each expanding to a type
 * letter and a name of sane length, and end within alignment of the markers.
 */
static bool names_fit(struct ks_scan *s, size_t S, uint64_t n)
{
	size_t p = S, end = s->mk;
	for (uint64_t i = 0; i < n; i++) {
		size_t l, full = 0;
		if (i % 256 == 0 && marker(s, i / 256) != p - S)
			return false;
		l = name_entry(s, &p, end);
		if (!l)
			return false;
		for (size_t k = 0; k < l; k++)
			full += s->tlen[s->img[p + k]];
		uint8_t type = (uint8_t)s->img[s->tt + s->tidx[s->img[p]]];
		if (full < 2 || full > KS_MAX_NAME || !((type | 0x20) >= 'a' && (type | 0x20) <= 'z'))
			return false;
		p += l;
	}
	if (end - p >= KS_MAX_PAD || !all_zero(s->img + p, end - p))
		return false;
	s->names = S;
	s->names_end = p;
	s->n = n;
	return true;
}

/* num_syms and the names stream in front of the markers. */
static bool names_before_markers(struct ks_scan *s)
{
	uint64_t last = marker(s, s->nmk - 1);
	size_t hi, lo, window = 256 * (size_t)KS_MAX_ENTRY + 2 * KS_MAX_PAD;

	if (last > s->mk || s->mk - last < 2 + 8)
		return false;
	hi = s->mk - (size_t)last - 2 - 4;       /* num_syms ends before the names start */
	lo = hi > window ? hi - window : 0;
	for (size_t pos = hi & ~(size_t)3; pos >= lo && pos + 4 <= s->len; pos -= 4) {
		uint64_t n = rd32(s->img + pos);
		if (n && n <= KS_MAX_SYMS && n > 256 * (uint64_t)(s->nmk - 1) &&
		    n <= 256 * (uint64_t)s->nmk) {
			s->numpos = pos;
			if (names_fit(s, pos + 4, n))
				return true;
			/* A .long count padded to 8, or a .quad count. */
			if (pos + 8 <= s->mk && !rd32(s->img + pos + 4) && names_fit(s, pos + 8, n))
				return true;
		}
		if (pos < 4)
			break;
	}
	return false;
}

/* Candidate address tables; the first whose every address is sane wins. */
struct ks_addrs {
	size_t off;
	unsigned width;          /* 4: u32 offsets from rb, 8: absolute u64 */
	uint64_t rb;
	const char *layout;
};

static bool addrs_ok(const struct ks_scan *s, const struct ks_addrs *a)
{
	uint64_t prev = 0;
	if (a->off > s->len || (s->len - a->off) / a->width < s->n)
		return false;
	if (a->width == 4 && (a->rb < s->base || a->rb > s->vend))
		return false;
	for (uint64_t i = 0; i < s->n; i++) {
		const uint8_t *p = s->img + a->off + i * a->width;
		uint64_t v = a->width == 8 ? rd64(p) : a->rb + rd32(p);
		if (v < s->base || v > s->vend || v < prev || (a->width == 4 && v < a->rb))
			return false;
		prev = v;
	}
	return true;
}

static bool find_addrs(struct ks_scan *s, struct ks_addrs *out)
{
	size_t tie = s->ti + 2 * KS_TOKENS, np = s->numpos;
	size_t n4 = (size_t)s->n * 4;
	/* 6.4+: offsets after token_index (4- or 8-aligned), then relative_base. */
	for (size_t al = 4; al <= 8; al *= 2) {
		size_t off = (tie + al - 1) & ~(al - 1), rbp;
		if (al == 8 && off == ((tie + 3) & ~(size_t)3))
			continue;
		if (off > s->len || s->len - off < n4)
			continue;
		rbp = (off + n4 + 7) & ~(size_t)7;
		if (rbp > s->len || s->len - rbp < 8)
			continue;
		*out = (struct ks_addrs){ off, 4, rd64(s->img + rbp), "offsets-after-index" };
		if (addrs_ok(s, out))
			return true;
	}
	/* Older: offsets, relative_base, then num_syms. */
	if (np % 8 == 0 && np >= 8) {
		size_t rbp = np - 8;
		for (size_t pad = 0; pad <= 4; pad += 4) {
			if (rbp < pad + n4 || !all_zero(s->img + rbp - pad, pad))
				continue;
			*out = (struct ks_addrs){ rbp - pad - n4, 4, rd64(s->img + rbp),
						  "offsets-before-count" };
			if (addrs_ok(s, out))
				return true;
		}
	}
	/* Oldest: absolute u64 addresses, then num_syms. */
	if (np % 8 == 0 && np / 8 >= s->n) {
		*out = (struct ks_addrs){ np - (size_t)s->n * 8, 8, 0, "absolute" };
		if (addrs_ok(s, out))
			return true;
	}
	return false;
}

/* The markers in front of the token table (after its alignment padding). */
static bool try_markers(struct ks_scan *s, struct ks_addrs *a)
{
	for (unsigned mes = 4; mes <= 8; mes *= 2) {
		for (size_t me = s->tt; me + KS_MAX_PAD > s->tt && me >= mes; me--) {
			uint64_t prev = UINT64_MAX;
			size_t k = me, cnt = 0;
			if (me % mes || !all_zero(s->img + me, s->tt - me))
				continue;
			/* Walk back: strictly decreasing values down to marker 0. */
			while (k >= mes && cnt <= KS_MAX_SYMS / 256) {
				uint64_t v;
				k -= mes;
				v = mes == 8 ? rd64(s->img + k) : rd32(s->img + k);
				if (v >= prev)
					break;
				prev = v;
				cnt++;
				if (!v)
					break;
			}
			if (prev != 0)
				continue;
			s->mk = k;
			s->nmk = cnt;
			s->mes = mes;
			if (!names_before_markers(s)) {
				fail_at(s, 2,
					"token table at 0x%zx, %zu markers at 0x%zx: no symbol count and "
					"names stream consistent with them", s->tt, cnt, k);
				continue;
			}
			if (find_addrs(s, a))
				return true;
			fail_at(s, 3,
				"%llu symbols at 0x%zx: no address table with every address sorted and "
				"inside 0x%llx-0x%llx", (unsigned long long)s->n, s->names,
				(unsigned long long)s->base, (unsigned long long)s->vend);
		}
	}
	fail_at(s, 1, "token table at 0x%zx: no marker table in front of it", s->tt);
	return false;
}

void cs_kallsyms_free(struct cs_kallsyms *k)
{
	if (!k)
		return;
	free(k->v);
	free(k->names);
	memset(k, 0, sizeof(*k));
}

static int decode_all(const struct ks_scan *s, const struct ks_addrs *a, struct cs_kallsyms *k)
{
	size_t p = s->names, cap = 0;
	/*
	 * Each token's first 8 bytes, zero-padded: a token of up to 8 bytes
	 * (nearly all of them) is copied as one 8-byte move, the names buffer
	 * keeping 8 bytes of room past the name being written.
	 */
	uint8_t tok8[KS_TOKENS][8];
	for (unsigned t = 0; t < KS_TOKENS; t++) {
		memset(tok8[t], 0, 8);
		memcpy(tok8[t], s->img + s->tt + s->tidx[t], s->tlen[t] < 8 ? s->tlen[t] : 8);
	}
	k->v = calloc(s->n, sizeof(*k->v));
	if (!k->v)
		return -ENOMEM;
	for (uint64_t i = 0; i < s->n; i++) {
		size_t l = name_entry(s, &p, s->names_end), full = 0;
		const uint8_t *q = s->img + a->off + i * a->width;
		/* names_fit checked all of this; stay defensive anyway. */
		if (!l)
			return -EINVAL;
		for (size_t t = 0; t < l; t++)
			full += s->tlen[s->img[p + t]];
		if (k->nlen + full + 8 > cap) {
			size_t nc = cap ? cap * 2 : 1 << 20;
			while (nc < k->nlen + full + 8)
				nc *= 2;
			char *nn = realloc(k->names, nc);
			if (!nn)
				return -ENOMEM;
			k->names = nn;
			cap = nc;
		}
		size_t at = k->nlen;
		for (size_t t = 0; t < l; t++) {
			unsigned tok = s->img[p + t], tl = s->tlen[tok];
			if (tl <= 8) {
				memcpy(k->names + at, tok8[tok], 8);
			} else {
				const uint8_t *from = s->img + s->tt + s->tidx[tok];
				for (unsigned c = 0; c < tl; c++)
					k->names[at + c] = (char)from[c];
			}
			at += tl;
		}
		k->names[at] = 0;
		/* The first character is the type letter; the name follows it. */
		k->v[i].type = k->names[k->nlen];
		k->v[i].name = (uint32_t)(k->nlen + 1);
		k->v[i].addr = a->width == 8 ? rd64(q) : a->rb + rd32(q);
		k->nlen = at + 1;
		p += l;
	}
	k->n = s->n;
	return 0;
}

static void text_ranges(struct cs_kallsyms *k)
{
	for (size_t i = 0; i < k->n; i++) {
		const char *nm = k->names + k->v[i].name;
		if (nm[0] != '_')
			continue;
		if (!strcmp(nm, "_stext"))
			k->text_lo = k->v[i].addr;
		else if (!strcmp(nm, "_etext"))
			k->text_hi = k->v[i].addr;
		else if (!strcmp(nm, "_sinittext"))
			k->init_lo = k->v[i].addr;
		else if (!strcmp(nm, "_einittext"))
			k->init_hi = k->v[i].addr;
	}
}

/* The end of the kernel's virtual range: .bss included when the header says how big it is. */
static uint64_t image_vend(const uint8_t *hdr, size_t len, uint64_t file_size, uint64_t link_base)
{
	uint64_t vsize = file_size;
	if (len >= KS_HDR_MAGIC_OFF + 4 && rd32(hdr + KS_HDR_MAGIC_OFF) == KS_HDR_MAGIC) {
		uint64_t isz = rd64(hdr + KS_HDR_SIZE_OFF);
		if (isz > vsize && isz <= KS_MAX_IMAGE)
			vsize = isz;
	}
	return vsize > UINT64_MAX - link_base ? UINT64_MAX : link_base + vsize;
}

/*
 * Looks for the tables in img[0, len), which is the part of the image that
 * starts at file offset org (offsets reported are the file's).  Returns 0,
 * -ENOENT with s->why saying how far the best candidate got, or -ENOMEM.
 */
static int decode_in(struct ks_scan *s, size_t org, struct cs_kallsyms *out)
{
	struct ks_addrs a;
	int rc;

	memset(out, 0, sizeof(*out));
	fail_at(s, 0, "no kallsyms token table (256 NUL-terminated tokens followed by their "
		      "u16 index)");
	for (size_t q = 0, last = SIZE_MAX, p; s->len >= 2 * KS_TOKENS && q < s->len; q += KS_PROBE) {
		if (!index_start_near(s, q, &p) || p == last)
			continue;
		last = p;
		if (!token_index_at(s, p))
			continue;
		s->ti = p;
		if (!token_table_before(s)) {
			fail_at(s, 0, "u16 index at 0x%zx: no token table in front of it", org + p);
			continue;
		}
		if (!try_markers(s, &a))
			continue;
		rc = decode_all(s, &a, out);
		if (rc < 0) {
			cs_kallsyms_free(out);
			return rc;
		}
		out->off_token_table = org + s->tt;
		out->off_token_index = org + s->ti;
		out->off_markers = org + s->mk;
		out->off_names = org + s->names;
		out->off_addrs = org + a.off;
		out->layout = a.layout;
		text_ranges(out);
		return 0;
	}
	return -ENOENT;
}

int cs_kallsyms_decode(const uint8_t *img, size_t len, uint64_t link_base, struct cs_kallsyms *out,
		       struct verr *e)
{
	struct ks_scan s = { .img = img, .len = len, .base = link_base, .stage = -1,
			     .vend = image_vend(img, len, len, link_base) };
	int rc = decode_in(&s, 0, out);

	if (rc == -ENOMEM)
		return verr_set(e, rc, "kallsyms: out of memory");
	if (rc < 0)
		return verr_set(e, rc, "no usable kallsyms tables: %s", s.why);
	return 0;
}

static bool in_range(uint64_t a, uint64_t lo, uint64_t hi) { return lo < hi && a >= lo && a < hi; }

bool cs_kallsyms_is_text(const struct cs_kallsyms *k, size_t i)
{
	const struct cs_ksym *y = &k->v[i];
	const char *nm = k->names + y->name;
	/* Mapping symbols ($x, $d) and local labels name no function. */
	if (nm[0] == '$' || (nm[0] == '.' && nm[1] == 'L'))
		return false;
	if (y->type == 't' || y->type == 'T')
		return true;
	if (y->type != 'w' && y->type != 'W')
		return false;
	/* A weak symbol is a function when it lies in the kernel's text. */
	if (k->text_hi > k->text_lo)
		return in_range(y->addr, k->text_lo, k->text_hi) ||
		       in_range(y->addr, k->init_lo, k->init_hi);
	/* Without those bounds: when the closest strong symbol below it is text. */
	for (size_t j = i; j-- > 0;) {
		char t = k->v[j].type;
		if (t != 'w' && t != 'W')
			return t == 't' || t == 'T';
	}
	return false;
}

static int type_rank(char t)
{
	switch (t) {
	case 'T': return 0;
	case 't': return 1;
	case 'W': return 2;
	default: return 3;
	}
}

int cs_kallsyms_symtab(struct cs_symtab **out, const struct cs_kallsyms *k, struct verr *e)
{
	struct cs_symbol *v = calloc(k->n ? k->n : 1, sizeof(*v));
	size_t nv = 0;
	int rc;

	if (!v)
		return verr_set(e, -ENOMEM, "kallsyms: out of memory");
	for (size_t i = 0; i < k->n;) {
		/* One address: its aliases are i..j-1; the symbol after them ends it. */
		size_t j = i, best = SIZE_MAX;
		while (j < k->n && k->v[j].addr == k->v[i].addr) {
			if (cs_kallsyms_is_text(k, j) &&
			    (best == SIZE_MAX || type_rank(k->v[j].type) < type_rank(k->v[best].type)))
				best = j;
			j++;
		}
		if (best != SIZE_MAX) {
			uint64_t a = k->v[i].addr;
			uint64_t end = j < k->n ? k->v[j].addr :
				       (a > UINT64_MAX - KS_LAST_SPAN ? UINT64_MAX : a + KS_LAST_SPAN);
			v[nv++] = (struct cs_symbol){ a, end, k->names + k->v[best].name };
		}
		i = j;
	}
	if (!nv) {
		free(v);
		return verr_set(e, -ENOENT, "kallsyms: no function symbols among %zu", k->n);
	}
	rc = cs_symtab_from_entries(out, v, nv, e);
	free(v);
	return rc;
}

/* Reads file bytes [off, off + len) into buf; returns how many it got (short at the end). */
static size_t read_at(int fd, uint8_t *buf, size_t len, uint64_t off)
{
	size_t got = 0;
	while (got < len) {
		ssize_t r = pread(fd, buf + got, len - got, (off_t)(off + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

/*
 * The tables sit together in .rodata: names, markers, token table and index
 * within a few MB before the index's end, the addresses after it (or before
 * the names in older kernels).  Reading the image in chunks to find the
 * index, then only this window around it, spares the start of every stats
 * VM a copy of the whole ~30 MB image into fresh memory (zeroing it is most
 * of that cost on a paravirtual host).  A layout that does not fit the
 * window falls back to reading the whole image.
 */
#define KS_CHUNK (1u << 20)
#define KS_CHUNK_OVERLAP (4 * KS_TOKENS)
#define KS_WIN_BEFORE (6u << 20)
#define KS_WIN_AFTER (3u << 20)

int cs_kallsyms_decode_fd(int fd, uint64_t size, uint64_t link_base, struct cs_kallsyms *k)
{
	uint8_t hdr[64];
	uint8_t *chunk = malloc(KS_CHUNK + 2 * KS_CHUNK_OVERLAP), *win = NULL;
	uint64_t last = UINT64_MAX;
	int rc = -ENOENT;

	if (!chunk)
		return -ENOMEM;
	size_t hlen = read_at(fd, hdr, sizeof(hdr), 0);
	struct ks_scan s = { .base = link_base, .stage = -1,
			     .vend = image_vend(hdr, hlen, size, link_base) };
	for (uint64_t off = 0; off < size && rc == -ENOENT; off += KS_CHUNK) {
		/* The chunk reaches back and ahead far enough to hold an index probed inside it. */
		uint64_t from = off >= KS_CHUNK_OVERLAP ? off - KS_CHUNK_OVERLAP : 0;
		size_t got = read_at(fd, chunk, (size_t)(off - from) + KS_CHUNK + KS_CHUNK_OVERLAP, from);
		struct ks_scan c = { .img = chunk, .len = got };
		for (size_t q = (size_t)(off - from); q < got && q < (size_t)(off - from) + KS_CHUNK;
		     q += KS_PROBE) {
			size_t p;
			if (!index_start_near(&c, q, &p) || from + p == last || !token_index_at(&c, p))
				continue;
			last = from + p;
			uint64_t wfrom = last > KS_WIN_BEFORE ? last - KS_WIN_BEFORE : 0;
			uint64_t wto = size - last > KS_WIN_AFTER ? last + KS_WIN_AFTER : size;
			if (!win && !(win = malloc(KS_WIN_BEFORE + KS_WIN_AFTER))) {
				rc = -ENOMEM;
				break;
			}
			s.img = win;
			s.len = read_at(fd, win, (size_t)(wto - wfrom), wfrom);
			rc = decode_in(&s, (size_t)wfrom, k);
			if (rc != -ENOENT)
				break;
		}
	}
	free(win);
	free(chunk);
	return rc;
}

int cs_symtab_from_kernel_image(struct cs_symtab **out, const char *image_path, uint64_t link_base,
				struct verr *e)
{
	int rc, fd = file_open_typed(image_path, O_RDONLY | O_CLOEXEC, 0, FILE_T_REG, e);

	if (fd < 0)
		return fd;
	rc = cs_symtab_from_kernel_fd(out, fd, image_path, link_base, e);
	close(fd);
	return rc;
}

int cs_symtab_from_kernel_fd(struct cs_symtab **out, int fd, const char *image_path,
			     uint64_t link_base, struct verr *e)
{
	struct cs_kallsyms k;
	struct stat st;
	uint8_t *img = NULL;
	size_t got = 0, img_len = 0;
	int rc;

	if (fstat(fd, &st) < 0) {
		rc = verr_set(e, -errno, "%s: %s", image_path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size <= 0 || (uint64_t)st.st_size > KS_MAX_IMAGE) {
		rc = verr_set(e, -EINVAL, "%s: not a kernel image (size %lld)", image_path,
			      (long long)st.st_size);
		goto out;
	}
	rc = cs_kallsyms_decode_fd(fd, (uint64_t)st.st_size, link_base, &k);
	if (rc == -ENOMEM) {
		rc = verr_set(e, rc, "%s: out of memory", image_path);
		goto out;
	}
	if (rc < 0) {
		/*
		 * The whole image, for a layout the window does not hold and for
		 * the error message.  A copy, not a mapping of the file: a file
		 * truncated under a mapping would SIGBUS the monitor.
		 */
		img_len = (size_t)st.st_size;
		img = malloc(img_len);
		if (!img) {
			rc = verr_set(e, -ENOMEM, "%s: out of memory", image_path);
			goto out;
		}
		got = read_at(fd, img, img_len, 0);
		rc = cs_kallsyms_decode(img, got, link_base, &k, e);
		if (rc < 0) {
			verr_prefix(e, rc, "%s", image_path);
			goto out;
		}
	}
	rc = cs_kallsyms_symtab(out, &k, e);
	if (rc < 0)
		verr_prefix(e, rc, "%s", image_path);
	cs_kallsyms_free(&k);
out:
	free(img);
	return rc;
}
