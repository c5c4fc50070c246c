/*
 * csp.h - vmx-callstack's model of a profile file (written by the stats
 * build's src/stats/cs_table.c, format in docs/CALLSTACK.md): parsing,
 * filtering into labelled stacks, the call trees, and the exports.
 */
#ifndef VMX_CSTOOLS_CSP_H
#define VMX_CSTOOLS_CSP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include "../lib/verr.h"

struct csp_frame {
	char dom;           /* 'g' guest, 'm' monitor */
	bool leaf;          /* the sampled PC (else a return address) */
	uint64_t addr, start, end;   /* end 0: unknown */
	char *name;         /* NULL: no symbol covers it */
};

struct csp_stack {
	uint64_t count;
	unsigned vcpu, priv, kstat;
	long long tbucket;  /* -1: coarse (no time) */
	unsigned ng, nm;
	uint32_t *g, *m;    /* frame ids, root first */
};

/* A guest instruction word the profile recorded at an exactly sampled pc. */
struct csp_gcode {
	uint64_t addr;
	uint32_t raw;
};

/* Walks counted by the reason they stopped, in the profile's order. */
struct csp_stops {
	unsigned n;
	struct { char name[24]; uint64_t count; } v[16];
};

struct csp_profile {
	unsigned version, hz, bucket_s;
	char buildtype[32];
	uint64_t start_unix_ns, elapsed_ns, samples, drops, ring_drops;
	bool coarse;
	char guest_symbols[4096];
	char monitor_exe[4096];
	uint64_t monitor_bias;
	char guest_image[4096];     /* flat guest kernel image and its virtual address */
	uint64_t guest_image_va;
	uint64_t pc_exact, pc_block;   /* guest samples with the exact pc / a block start */
	unsigned ngcode;
	struct csp_gcode *gcode;       /* sorted by address as written */
	uint64_t gcode_dropped;
	/* Stack walks by the reason they stopped: guest_walk_stop and monitor_walk_stop lines. */
	struct csp_stops gstops, hstops;
	unsigned nkstats;
	char **kstat;       /* by id, NULL when not named */
	unsigned nframes;
	struct csp_frame *frames;
	unsigned nstacks;
	struct csp_stack *stacks;
};

int csp_load(const char *path, struct csp_profile **out, struct verr *e);
/* The same from an open stream (path only names it in messages). */
int csp_parse(FILE *f, const char *path, struct csp_profile **out, struct verr *e);
void csp_free(struct csp_profile *p);
/* A file, or the newest stats/callstack-*.txt of a VM or stats directory. */
int csp_find(const char *arg, char *out, size_t outlen, struct verr *e);

struct csp_filter {
	int vcpu;           /* -1: all */
	bool guest_only, monitor_only;
	int kstat;          /* -1: all */
	bool no_kstat;      /* leave the kstat frame off the stacks */
	int priv;           /* guest privilege mode 0 U, 1 S, 3 M; -1: all */
	double from_s, to_s;   /* to_s < 0: open */
	/*
	 * Keep the monitor frames from its root down to hart_run on stacks with
	 * guest frames.  Off by default: they are the same on every such stack
	 * (main > vm_run > vm_loop > hart_run) and would make every guest frame
	 * a caller with 0 % self; kstat:GUEST is then left off too, as it says
	 * nothing a guest leaf does not.
	 */
	bool monitor_tail;
};

/* Interned frame labels: "guest:NAME", "mon:NAME", "kstat:NAME" (or addresses). */
struct csp_view {
	unsigned nlabels, labcap;
	char **label;
	int *lab_frame;     /* a frame id with this label (-1 for kstats), for disassembly */
	uint32_t *hslot;
	uint32_t hmask;
	unsigned n, cap;
	struct csp_vstack { uint64_t count; unsigned len; uint32_t *lab; unsigned vcpu; } *st;
	uint64_t total;
};

int csp_view_build(const struct csp_profile *p, const struct csp_filter *f, struct csp_view *v);
void csp_view_free(struct csp_view *v);
/* Label of a frame as the views print it (buf when it is an address). */
const char *csp_frame_label(const struct csp_frame *fr, char *buf, size_t len);

struct csp_node {
	int lab, parent, child, next;
	uint64_t total, self;
};
struct csp_tree {
	struct csp_node *n;
	unsigned len, cap;
	uint64_t total;     /* samples of the view */
};

/*
 * Tree from the view: top-down (callers first) or bottom-up (leaves first).
 * rootat >= 0: only the part of each stack from the outermost occurrence of
 * that label on, so the root collects all of its time from every path.
 */
int csp_tree_build(const struct csp_view *v, bool bottom_up, int rootat, struct csp_tree *t);
void csp_tree_free(struct csp_tree *t);
/* Children of node i sorted by total, descending (caller frees). */
unsigned csp_tree_children(const struct csp_tree *t, int i, int **out);
int csp_label_find(const struct csp_view *v, const char *name);

/* Guest code (csp_code.c) */
bool csp_is_elf(const char *path);
/*
 * Up to len bytes of code at virtual address va: from an ELF's loadable
 * segments, or from a flat image whose first byte is at image_va.  Returns
 * the bytes read (short or 0 past the end or outside every segment) or -errno.
 */
ssize_t csp_code_read(const char *path, uint64_t image_va, uint64_t va, uint8_t *out, size_t len);
/*
 * Every instruction of an ELF's executable sections, decoded linearly by the
 * monitor's disassembler: "ADDR<TAB>RAW<TAB>TEXT" lines (flags: DISASM_*).
 */
int csp_disasm_elf(const char *path, unsigned flags, FILE *out);

/* Exports */
int csp_export_folded(const struct csp_view *v, FILE *f);
int csp_export_speedscope(const struct csp_profile *p, const struct csp_view *v, FILE *f);
int csp_export_pprof(const struct csp_profile *p, const struct csp_view *v, const char *path,
		     struct verr *e);
int csp_export_html(const struct csp_profile *p, const struct csp_view *v, FILE *f);

#endif
