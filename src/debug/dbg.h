/*
 * dbg.h - expensive invariant checks of the beta (debug) build.
 *
 * Linked into beta, opt and obj only; in release and stats these are static
 * inline stubs that return true, so callers write VMX_ASSERT_EXPENSIVE(dbg_x())
 * and the check vanishes.
 */
#ifndef VMX_DEBUG_DBG_H
#define VMX_DEBUG_DBG_H

#include <stdbool.h>
#include "../lib/build.h"
#include "../mem/bus.h"

#if VMX_DEBUG
/* Bus regions are non-empty, inside the address space and disjoint from each other and RAM. */
bool dbg_bus_consistent(const struct bus *b);
#else
static inline bool dbg_bus_consistent(const struct bus *b) { (void)b; return true; }
#endif

#endif
