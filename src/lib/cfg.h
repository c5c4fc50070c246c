/*
 * cfg.h - the .vmx configuration file.
 *
 * One `key = "value"` per line, `#` comments, blank lines; keys are
 * case-insensitive.  The parsed file keeps every original line so that
 * rewriting one key leaves every other byte as it was, and cfg_save() replaces
 * the file atomically (temporary file, fsync, rename, fsync of the directory).
 */
#ifndef VMX_LIB_CFG_H
#define VMX_LIB_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "verr.h"

struct cfg;

/* Parses buf (len bytes); `name` is used in error messages ("name:line: ..."). */
int cfg_parse(const char *name, const char *buf, size_t len, struct cfg **out, struct verr *e);
int cfg_load(const char *path, struct cfg **out, struct verr *e);
struct cfg *cfg_new(const char *name);
void cfg_free(struct cfg *c);

/* The file name given to cfg_load/cfg_parse. */
const char *cfg_name(const struct cfg *c);

/* Value of key (case-insensitive) or NULL when absent. */
const char *cfg_get(const struct cfg *c, const char *key);
/* Line number (1-based) where key is set, 0 if absent; for error messages. */
unsigned cfg_line(const struct cfg *c, const char *key);

/*
 * Typed getters: absent key gives def; a present but malformed value is an error
 * naming file, line and key.  Numbers are decimal ("0200" is 200, not octal),
 * digits only, and checked against [min, max].  Booleans accept TRUE/FALSE, yes/no, on/off, 1/0.
 */
int cfg_get_bool(const struct cfg *c, const char *key, bool def, bool *out, struct verr *e);
int cfg_get_u64(const struct cfg *c, const char *key, uint64_t def, uint64_t min, uint64_t max,
		uint64_t *out, struct verr *e);
/* Strict decimal (digits only, no sign or prefix): 0, -EINVAL or -ERANGE on overflow. */
int cfg_parse_u64(const char *s, uint64_t *out);
/* Duration such as "90", "90s", "15m", "2h", "1d"; result in seconds. */
int cfg_get_duration(const struct cfg *c, const char *key, uint64_t def, uint64_t *out,
		     struct verr *e);

/* Parses a duration string ("90", "90s", "15m", "2h", "1d") into seconds. */
int cfg_parse_duration(const char *s, uint64_t *secs);

/* Sets key, rewriting only its line, or appending a line when absent. */
int cfg_set(struct cfg *c, const char *key, const char *value);
/* Removes key's line; 0 if it was absent too. */
int cfg_unset(struct cfg *c, const char *key);

/* The whole file as text (malloc'd, NUL-terminated); *len gets its length. */
char *cfg_serialize(const struct cfg *c, size_t *len);
/* Writes the file atomically to path. */
int cfg_save(const struct cfg *c, const char *path, struct verr *e);

/* Iteration over keys in file order: returns false at the end. */
bool cfg_iter(const struct cfg *c, size_t *pos, const char **key, const char **value);

/* Resolves a path value relative to the directory that holds the .vmx file. */
int cfg_path(const struct cfg *c, const char *key, const char *vmdir, char *out, size_t outlen,
	     struct verr *e);

/*
 * A list of programs' files, as guest.userSymbols holds them:
 * "PROG:FILE; FILE; ...".  Each call takes the next non-empty entry from
 * *cur into prog (empty when the entry names none: the file's name is then
 * the program's) and file, trimmed; false at the end, or (with *cur left at
 * the entry) when an entry does not fit.  A colon after a '/' is part of
 * the file's name.
 */
bool cfg_next_program(const char **cur, char *prog, size_t plen, char *file, size_t flen);

#endif
