/*
 * cs_kallsyms.h - guest kernel symbols read straight from the kernel image
 * the VM boots (guest.kernel): the kernel's own kallsyms tables, which live in
 * its .rodata, so a plain boot of a stock kernel without a System.map still
 * gets function names in callstack profiles.  See cs_kallsyms.c.
 */
#ifndef VMX_STATS_CS_KALLSYMS_H
#define VMX_STATS_CS_KALLSYMS_H

#include <stddef.h>
#include <stdint.h>
#include "callstack.h"

/* Link address of a non-relocatable riscv64 Linux (Debian's kernel). */
#define CS_KERNEL_LINK_BASE 0xffffffff80000000ull

/* One decoded kallsyms entry. */
struct cs_ksym {
	uint64_t addr;
	uint32_t name;      /* offset into cs_kallsyms.names */
	char type;          /* nm-style type letter: t T w W d D r R b B ... */
};

/* Every symbol of the tables, in their order (sorted by address). */
struct cs_kallsyms {
	struct cs_ksym *v;
	size_t n;
	char *names;
	size_t nlen;
	/* Where the tables were found (offsets in the image), for messages and tests. */
	size_t off_token_table, off_token_index, off_markers, off_names, off_addrs;
	const char *layout;  /* "offsets-after-index", "offsets-before-count", "absolute" */
	uint64_t text_lo, text_hi;          /* _stext.._etext, 0 when not named */
	uint64_t init_lo, init_hi;          /* _sinittext.._einittext, 0 when not named */
};

/*
 * Finds and decodes the kallsyms tables in a flat kernel image `img` of `len`
 * bytes whose byte 0 is at virtual address link_base.  Every candidate table
 * set is checked for consistency (token table and index agree, the marker
 * count matches the symbol count, every name decodes inside the names
 * stream, addresses sorted and inside the image's virtual range); the first
 * that passes everything is used.  Returns 0, or -ENOENT with a message
 * saying which check the best candidate failed.
 */
int cs_kallsyms_decode(const uint8_t *img, size_t len, uint64_t link_base, struct cs_kallsyms *out,
		       struct verr *e);
/*
 * The same from an open image file of `size` bytes, reading it in chunks to
 * find the index and then only a window of a few MB around it.  Returns 0,
 * -ENOENT when no candidate's tables fit in its window (the caller then
 * decodes the whole image, which also says why), or -ENOMEM.
 */
int cs_kallsyms_decode_fd(int fd, uint64_t size, uint64_t link_base, struct cs_kallsyms *out);
void cs_kallsyms_free(struct cs_kallsyms *k);
/* Whether entry i names code: t/T, or w/W inside the kernel's text. */
bool cs_kallsyms_is_text(const struct cs_kallsyms *k, size_t i);
/*
 * The function symbols of k as a symbol table: one name per address (T over
 * t over W over w), each ending where the next symbol of any type starts.
 */
int cs_kallsyms_symtab(struct cs_symtab **out, const struct cs_kallsyms *k, struct verr *e);

/* Reads image_path and does all of the above. */
int cs_symtab_from_kernel_image(struct cs_symtab **out, const char *image_path, uint64_t link_base,
				struct verr *e);
/* The same from an open image (image_path names it in messages). */
int cs_symtab_from_kernel_fd(struct cs_symtab **out, int fd, const char *image_path,
			     uint64_t link_base, struct verr *e);
/*
 * The same through a cache of the decoded table at cache_path (NULL: no
 * cache), keyed by the image's device, inode, size and modification and
 * change times: a hit reads the table from there, a miss decodes the image
 * and replaces the cache.  *cached tells which.  See cs_kcache.c.
 */
int cs_symtab_from_kernel_cached(struct cs_symtab **out, const char *image_path,
				 uint64_t link_base, const char *cache_path, bool *cached,
				 struct verr *e);
/*
 * Where that cache lives for image_path: one file per Image and monitor
 * executable (paths) in the user's cache directory
 * ($XDG_CACHE_HOME/vmx3/kallsyms, else ~/.cache/vmx3/kallsyms, made when
 * missing), so every VM booting that Image shares it and a VM directory made
 * afresh (a benchmark's, a copied VM's) still finds it; without a usable
 * one, fallback_dir (the VM's stats directory).  "" when there is neither.
 */
void cs_kcache_path(char *out, size_t len, const char *image_path, const char *fallback_dir);

/*
 * A symbol table as bytes and back (defined in cs_sym.c): the blob of
 * cs_symtab_blob_size(t) bytes (n u64, names length u64, n records of
 * CS_SYMTAB_REC bytes: start, end, name offset as u64, then the names), and
 * a table from a blob of any origin (every size, order and offset checked:
 * -EINVAL when they do not hold).
 */
#define CS_SYMTAB_REC 24
#define CS_SYMTAB_RAW_MAX_N (1u << 24)
#define CS_SYMTAB_RAW_MAX_NAMES (1u << 30)
size_t cs_symtab_blob_size(const struct cs_symtab *t);
void cs_symtab_blob(const struct cs_symtab *t, uint8_t *out);
int cs_symtab_from_blob(struct cs_symtab **out, const uint8_t *p, size_t len, struct verr *e);
/*
 * The same in two steps, for a reader that fills the records and names in
 * place (the cache reads them straight from its file): a table of n records
 * and nlen bytes of names to fill (NULL when the sizes are refused or memory
 * is short), then the checks, after which the table may be used (-EINVAL:
 * free it).
 */
struct cs_symtab *cs_symtab_raw(size_t n, size_t nlen, void **recs, char **names);
int cs_symtab_raw_check(struct cs_symtab *t, struct verr *e);

/*
 * A symbol table from explicit ranges (defined in cs_sym.c, which owns the
 * table's layout).  end 0 means "up to the next symbol's start".
 */
struct cs_symbol {
	uint64_t start, end;
	const char *name;
};
int cs_symtab_from_entries(struct cs_symtab **out, const struct cs_symbol *v, size_t n,
			   struct verr *e);

#endif
