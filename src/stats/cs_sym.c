/*
 * cs_sym.c - symbol tables of the callstack profiler: the monitor's own
 * functions (its ELF .symtab, relocated by the PIE load bias) and the guest's
 * (an ELF with symbols, a System.map or a kallsyms text).
 *
 * A lookup answers only when an address lies inside a known function: ELF
 * symbols carry their size; text maps give starts only, so a symbol ends at
 * the next one and the last one covers nothing past CS_TEXT_LAST_SPAN.  An
 * uncovered address stays an address in the profile, never a wrong name.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../lib/fileutil.h"
#include "callstack.h"
#include "cs_kallsyms.h"

#define CS_TEXT_LAST_SPAN 4096

struct cs_sym {
	uint64_t start, end;
	size_t name;        /* offset into names */
};

struct cs_symtab {
	struct cs_sym *v;
	size_t n, cap;
	char *names;
	size_t nlen, ncap;
	uint64_t hull_hi;   /* the highest end, kept by tab_finish: looked up per sample */
};

static int tab_add(struct cs_symtab *t, uint64_t start, uint64_t end, const char *name)
{
	size_t l = strlen(name) + 1;
	if (t->n == t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 1024;
		struct cs_sym *nv = realloc(t->v, nc * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		t->v = nv;
		t->cap = nc;
	}
	if (t->nlen + l > t->ncap) {
		size_t nc = t->ncap ? t->ncap * 2 : 16384;
		while (nc < t->nlen + l)
			nc *= 2;
		char *nn = realloc(t->names, nc);
		if (!nn)
			return -ENOMEM;
		t->names = nn;
		t->ncap = nc;
	}
	memcpy(t->names + t->nlen, name, l);
	t->v[t->n++] = (struct cs_sym){ start, end, t->nlen };
	t->nlen += l;
	return 0;
}

static int sym_cmp(const void *a, const void *b)
{
	const struct cs_sym *x = a, *y = b;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	/* Same start: the sized (longer) one first, it is the real function. */
	return x->end > y->end ? -1 : x->end < y->end;
}

/* Sorts, drops duplicate starts, and closes open ends (end == 0) at the next start. */
static void tab_finish(struct cs_symtab *t)
{
	size_t w = 0, sorted = 1;
	/* Kernel symbols arrive in address order already: check before sorting. */
	while (sorted < t->n && sym_cmp(&t->v[sorted - 1], &t->v[sorted]) <= 0)
		sorted++;
	if (sorted < t->n)
		qsort(t->v, t->n, sizeof(*t->v), sym_cmp);
	for (size_t i = 0; i < t->n; i++) {
		if (w && t->v[w - 1].start == t->v[i].start)
			continue;
		t->v[w++] = t->v[i];
	}
	t->n = w;
	for (size_t i = 0; i < t->n; i++) {
		if (t->v[i].end)
			continue;
		t->v[i].end = i + 1 < t->n ? t->v[i + 1].start : t->v[i].start + CS_TEXT_LAST_SPAN;
	}
	t->hull_hi = 0;
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].end > t->hull_hi)
			t->hull_hi = t->v[i].end;
}

void cs_symtab_free(struct cs_symtab *t)
{
	if (!t)
		return;
	free(t->v);
	free(t->names);
	free(t);
}

unsigned cs_symtab_count(const struct cs_symtab *t) { return t ? (unsigned)t->n : 0; }

int cs_elf_code(const char *path, uint8_t **code, uint64_t *lo, uint64_t *hi, struct verr *e)
{
	int fd = file_open_typed(path, O_RDONLY | O_CLOEXEC, 0, FILE_T_REG, e);
	Elf *elf = NULL;
	size_t n;
	int rc = 0;

	*code = NULL;
	*lo = UINT64_MAX;
	*hi = 0;
	if (fd < 0)
		return fd;
	if (elf_version(EV_CURRENT) == EV_NONE || !(elf = elf_begin(fd, ELF_C_READ, NULL)) ||
	    elf_getphdrnum(elf, &n) < 0) {
		rc = verr_set(e, -EINVAL, "%s: not an ELF file", path);
		goto out;
	}
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < n; i++) {
			GElf_Phdr ph;
			if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD || !(ph.p_flags & PF_X))
				continue;
			if (!pass) {
				*lo = ph.p_vaddr < *lo ? ph.p_vaddr : *lo;
				*hi = ph.p_vaddr + ph.p_memsz > *hi ? ph.p_vaddr + ph.p_memsz : *hi;
				continue;
			}
			uint64_t len = ph.p_filesz < ph.p_memsz ? ph.p_filesz : ph.p_memsz;
			if (pread(fd, *code + (ph.p_vaddr - *lo), len, (off_t)ph.p_offset) != (ssize_t)len) {
				rc = verr_set(e, -EIO, "%s: short read", path);
				goto out;
			}
		}
		if (!pass) {
			/* User programs are small; a huge range is not one. */
			if (*hi <= *lo || *hi - *lo > (256u << 20)) {
				rc = verr_set(e, -EINVAL, "%s: no executable segment", path);
				goto out;
			}
			if (!(*code = calloc(1, *hi - *lo))) {
				rc = verr_set(e, -ENOMEM, "out of memory");
				goto out;
			}
		}
	}
out:
	if (elf)
		elf_end(elf);
	close(fd);
	if (rc < 0) {
		free(*code);
		*code = NULL;
	}
	return rc;
}

bool cs_symtab_hull(const struct cs_symtab *t, uint64_t *lo, uint64_t *hi)
{
	if (!t || !t->n)
		return false;
	*lo = t->v[0].start;
	*hi = t->hull_hi;
	return true;
}

const char *cs_symtab_lookup(const struct cs_symtab *t, uint64_t addr, uint64_t *start)
{
	return cs_symtab_lookup_range(t, addr, start, NULL);
}

const char *cs_symtab_lookup_range(const struct cs_symtab *t, uint64_t addr, uint64_t *start,
				   uint64_t *end)
{
	size_t lo = 0, hi;
	if (!t || !t->n)
		return NULL;
	hi = t->n;
	/* Last symbol with start <= addr. */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->v[mid].start <= addr)
			lo = mid;
		else
			hi = mid;
	}
	const struct cs_sym *s = &t->v[lo];
	if (addr < s->start || addr >= s->end)
		return NULL;
	if (start)
		*start = s->start;
	if (end)
		*end = s->end;
	return t->names + s->name;
}

static int load_elf_fd(struct cs_symtab *t, int fd, uint64_t bias, struct verr *e,
		       const char *path)
{
	Elf *elf;
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	int rc = 0;
	bool have_symtab = false;

	if (elf_version(EV_CURRENT) == EV_NONE)
		return verr_set(e, -EINVAL, "libelf: %s", elf_errmsg(-1));
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		rc = verr_set(e, -EINVAL, "%s: not an ELF file", path);
		goto out;
	}
	while ((scn = elf_nextscn(elf, scn)))
		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_SYMTAB)
			have_symtab = true;
	while ((scn = elf_nextscn(elf, scn))) {
		Elf_Data *d;
		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type != (have_symtab ? SHT_SYMTAB : SHT_DYNSYM) || !sh.sh_entsize)
			continue;
		d = elf_getdata(scn, NULL);
		if (!d)
			continue;
		for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym s;
			const char *name;
			if (!gelf_getsym(d, (int)i, &s) || GELF_ST_TYPE(s.st_info) != STT_FUNC ||
			    !s.st_value || s.st_shndx == SHN_UNDEF)
				continue;
			name = elf_strptr(elf, sh.sh_link, s.st_name);
			if (!name || !name[0])
				continue;
			rc = tab_add(t, s.st_value + bias, s.st_size ? s.st_value + bias + s.st_size : 0,
				     name);
			if (rc < 0) {
				verr_set(e, rc, "%s: out of memory", path);
				goto out;
			}
		}
	}
	if (!t->n)
		rc = verr_set(e, -ENOENT, "%s: no function symbols", path);
out:
	if (elf)
		elf_end(elf);
	return rc;
}

/*
 * "ADDR TYPE NAME [module]" lines; text symbols only.  With `console`, only
 * the lines of the last block the guest's vmx3-kallsyms workload printed
 * between its VMX3-KALLSYMS-BEGIN and VMX3-KALLSYMS-END markers count.
 */
static int load_text(struct cs_symtab *t, FILE *f, const char *path, bool console,
		     struct verr *e)
{
	char line[1024];
	unsigned lineno = 0;
	bool inside = !console, complete = false;
	while (fgets(line, sizeof(line), f)) {
		char type, name[512];
		unsigned long long addr;
		lineno++;
		if (console) {
			if (strstr(line, "VMX3-KALLSYMS-BEGIN")) {
				t->n = 0;
				t->nlen = 0;
				inside = true;
				complete = false;
				continue;
			}
			if (strstr(line, "VMX3-KALLSYMS-END")) {
				complete = inside;
				inside = false;
			}
		}
		if (!inside)
			continue;
		if (sscanf(line, "%llx %c %511s", &addr, &type, name) != 3)
			continue;
		if (!addr || !strchr("tTwW", type))
			continue;
		int rc = tab_add(t, addr, 0, name);
		if (rc < 0)
			return verr_set(e, rc, "%s:%u: out of memory", path, lineno);
	}
	/* A block still being printed would leave later functions unnamed for good. */
	if (console && !complete)
		return verr_set(e, -EAGAIN, "%s: no complete kallsyms block yet", path);
	if (!t->n)
		return verr_set(e, -EINVAL, "%s: no text symbols (not a System.map or kallsyms file)",
				path);
	return 0;
}

int cs_symtab_load(struct cs_symtab **out, const char *path, struct verr *e)
{
	struct cs_symtab *t = calloc(1, sizeof(*t));
	unsigned char magic[4] = { 0 };
	int rc, fd;

	if (!t)
		return verr_set(e, -ENOMEM, "out of memory");
	/* Named by guest.symbols: a FIFO there must not block vmx in open(). */
	fd = file_open_typed(path, O_RDONLY | O_CLOEXEC, 0, FILE_T_REG, e);
	if (fd < 0) {
		rc = fd;
		goto fail;
	}
	if (pread(fd, magic, 4, 0) == 4 && !memcmp(magic, ELFMAG, SELFMAG)) {
		rc = load_elf_fd(t, fd, 0, e, path);
		close(fd);
	} else {
		FILE *f = fdopen(fd, "r");
		if (!f) {
			rc = verr_set(e, -errno, "%s: %s", path, strerror(errno));
			close(fd);
			goto fail;
		}
		rc = load_text(t, f, path, false, e);
		fclose(f);
	}
	if (rc < 0)
		goto fail;
	tab_finish(t);
	*out = t;
	return 0;
fail:
	cs_symtab_free(t);
	return rc;
}

static int main_bias_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	*(uint64_t *)data = info->dlpi_addr;
	return 1;   /* the first object is the executable itself */
}

uint64_t cs_self_bias(void)
{
	uint64_t bias = 0;
	dl_iterate_phdr(main_bias_cb, &bias);
	return bias;
}

int cs_symtab_self(struct cs_symtab **out, struct verr *e)
{
	struct cs_symtab *t = calloc(1, sizeof(*t));
	int rc, fd;

	if (!t)
		return verr_set(e, -ENOMEM, "out of memory");
	fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = verr_set(e, -errno, "/proc/self/exe: %s", strerror(errno));
		goto fail;
	}
	rc = load_elf_fd(t, fd, cs_self_bias(), e, "/proc/self/exe");
	close(fd);
	if (rc < 0)
		goto fail;
	tab_finish(t);
	*out = t;
	return 0;
fail:
	cs_symtab_free(t);
	return rc;
}

int cs_symtab_load_console(struct cs_symtab **out, const char *path, struct verr *e)
{
	struct cs_symtab *t = calloc(1, sizeof(*t));
	FILE *f;
	int rc;

	if (!t)
		return verr_set(e, -ENOMEM, "out of memory");
	rc = file_open_typed(path, O_RDONLY | O_CLOEXEC, 0, FILE_T_REG, e);
	if (rc < 0)
		goto fail;
	f = fdopen(rc, "r");
	if (!f) {
		close(rc);
		rc = verr_set(e, -errno, "%s: %s", path, strerror(errno));
		goto fail;
	}
	rc = load_text(t, f, path, true, e);
	fclose(f);
	if (rc < 0)
		goto fail;
	tab_finish(t);
	*out = t;
	return 0;
fail:
	cs_symtab_free(t);
	return rc;
}

int cs_symtab_merge(struct cs_symtab *dst, const struct cs_symtab *src)
{
	for (size_t i = 0; i < src->n; i++) {
		int rc = tab_add(dst, src->v[i].start, src->v[i].end, src->names + src->v[i].name);
		if (rc < 0)
			return rc;
	}
	tab_finish(dst);
	return 0;
}

int cs_symtab_from_entries(struct cs_symtab **out, const struct cs_symbol *v, size_t n,
			   struct verr *e)
{
	struct cs_symtab *t = calloc(1, sizeof(*t));
	if (!t)
		return verr_set(e, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		int rc = tab_add(t, v[i].start, v[i].end, v[i].name);
		if (rc < 0) {
			cs_symtab_free(t);
			return verr_set(e, rc, "symbol table: out of memory");
		}
	}
	tab_finish(t);
	*out = t;
	return 0;
}

/*
 * The table as bytes, for the kernel-symbol cache (cs_kcache.c): n and the
 * names' length (u64 each), n records of start, end and name offset (u64
 * each: struct cs_sym itself), then the names.  Native byte order: the cache
 * never leaves the host that wrote it.
 */
#define BLOB_HDR 16
_Static_assert(sizeof(struct cs_sym) == CS_SYMTAB_REC, "a blob record is a struct cs_sym");

size_t cs_symtab_blob_size(const struct cs_symtab *t)
{
	return BLOB_HDR + t->n * CS_SYMTAB_REC + t->nlen;
}

void cs_symtab_blob(const struct cs_symtab *t, uint8_t *out)
{
	uint64_t h[2] = { t->n, t->nlen };
	memcpy(out, h, BLOB_HDR);
	memcpy(out + BLOB_HDR, t->v, t->n * CS_SYMTAB_REC);
	memcpy(out + BLOB_HDR + t->n * CS_SYMTAB_REC, t->names, t->nlen);
}

struct cs_symtab *cs_symtab_raw(size_t n, size_t nlen, void **recs, char **names)
{
	struct cs_symtab *t;
	if (n > CS_SYMTAB_RAW_MAX_N || nlen > CS_SYMTAB_RAW_MAX_NAMES || (n && !nlen))
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->n = t->cap = n;
	t->nlen = t->ncap = nlen;
	t->v = malloc((n ? n : 1) * sizeof(*t->v));
	t->names = malloc(nlen ? nlen : 1);
	if (!t->v || !t->names) {
		cs_symtab_free(t);
		return NULL;
	}
	*recs = t->v;
	*names = t->names;
	return t;
}

/*
 * Trusting nothing in the bytes: starts increase strictly (lookups are a
 * binary search), every name offset is inside the names and the names end
 * with a NUL, so any lookup stays in bounds whatever they were.
 */
int cs_symtab_raw_check(struct cs_symtab *t, struct verr *e)
{
	if (t->n && t->names[t->nlen - 1] != 0)
		return verr_set(e, -EINVAL, "symbol table: names not terminated");
	t->hull_hi = 0;
	for (size_t i = 0; i < t->n; i++) {
		if (t->v[i].name >= t->nlen || (i && t->v[i].start <= t->v[i - 1].start))
			return verr_set(e, -EINVAL, "symbol table: record %zu out of order or range", i);
		if (t->v[i].end > t->hull_hi)
			t->hull_hi = t->v[i].end;
	}
	return 0;
}

int cs_symtab_from_blob(struct cs_symtab **out, const uint8_t *p, size_t len, struct verr *e)
{
	uint64_t h[2];
	struct cs_symtab *t;
	void *recs;
	char *names;
	int rc;

	if (len < BLOB_HDR)
		return verr_set(e, -EINVAL, "symbol blob: %zu bytes", len);
	memcpy(h, p, BLOB_HDR);
	if (h[0] > CS_SYMTAB_RAW_MAX_N || h[1] > CS_SYMTAB_RAW_MAX_NAMES ||
	    len - BLOB_HDR != h[0] * CS_SYMTAB_REC + h[1])
		return verr_set(e, -EINVAL, "symbol blob: inconsistent sizes");
	t = cs_symtab_raw((size_t)h[0], (size_t)h[1], &recs, &names);
	if (!t)
		return verr_set(e, -EINVAL, "symbol blob: sizes refused or out of memory");
	memcpy(recs, p + BLOB_HDR, t->n * CS_SYMTAB_REC);
	memcpy(names, p + BLOB_HDR + t->n * CS_SYMTAB_REC, t->nlen);
	rc = cs_symtab_raw_check(t, e);
	if (rc < 0) {
		cs_symtab_free(t);
		return rc;
	}
	*out = t;
	return 0;
}
