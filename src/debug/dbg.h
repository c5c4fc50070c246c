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

struct hart_state;

#if VMX_DEBUG
/* Bus regions are non-empty, inside the address space and disjoint from each other and RAM. */
bool dbg_bus_consistent(const struct bus *b);
/* NULL when the hart's architectural state is self-consistent, else what is wrong. */
const char *dbg_hart_state_problem(const struct hart_state *s);
/* Stops the monitor (crash report) naming the problem, if there is one. */
void dbg_check_hart_at(const struct hart_state *s, const char *file, int line);
#define dbg_check_hart(s) dbg_check_hart_at((s), __FILE__, __LINE__)
#else
static inline bool dbg_bus_consistent(const struct bus *b) { (void)b; return true; }
static inline const char *dbg_hart_state_problem(const struct hart_state *s)
{
	(void)s;
	return (const char *)0;
}
#define dbg_check_hart(s) ((void)0)
#endif

#endif
