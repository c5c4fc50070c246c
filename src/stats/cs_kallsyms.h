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
