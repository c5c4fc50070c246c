/*
 * buildtype.h - the vmx.buildType setting and the binaries it selects.
 *
 * The seed's values are default, debug and stats; "release" is accepted as
 * another name for default.  Each selects one shipped vmx binary.
 */
#ifndef VMX_LIB_BUILDTYPE_H
#define VMX_LIB_BUILDTYPE_H

#include "cfg.h"
#include "verr.h"

enum buildtype { BUILDTYPE_DEFAULT = 0, BUILDTYPE_DEBUG, BUILDTYPE_STATS, BUILDTYPE_COUNT };

#define BUILDTYPE_KEY "vmx.buildType"

/* Parses a vmx.buildType value (case-insensitive); -EINVAL for anything else. */
int buildtype_parse(const char *s, enum buildtype *out);
/* Canonical config value: "default", "debug", "stats". */
const char *buildtype_name(enum buildtype t);
/* Binary that runs it: "vmx", "vmx-debug", "vmx-stats". */
const char *buildtype_binary(enum buildtype t);
/* The compiled build-type name that binary reports: "release", "beta", "stats". */
const char *buildtype_compiled_name(enum buildtype t);
/* Reads vmx.buildType from a config (absent = default); errors name file:line. */
int buildtype_from_cfg(const struct cfg *c, enum buildtype *out, struct verr *e);

#endif
