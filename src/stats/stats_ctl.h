/*
 * stats_ctl.h - live counters and kstats for the control socket, as
 * handlers with the signature of ctl.c's command table:
 *
 *   {"v":1,"cmd":"stats"}                      counters, per vCPU and total
 *   {"v":1,"cmd":"stats","format":"prometheus"} {"text": "<exposition>"}
 *   {"v":1,"cmd":"kstats"}                     kstats: invocations, samples, share
 *   {"v":1,"cmd":"locks"}                      MXUser lock statistics: locks with
 *                                              contention and hold times; condition
 *                                              variables and semaphores with waits
 *
 * In builds without VMX_STATS the handlers answer with an error.
 */
#ifndef VMX_STATS_STATS_CTL_H
#define VMX_STATS_STATS_CTL_H

#include <jansson.h>
#include "../lib/build.h"

struct vmx;

#if VMX_STATS
json_t *stats_ctl_stats(struct vmx *x, json_t *req, const char **err);
json_t *stats_ctl_kstats(struct vmx *x, json_t *req, const char **err);
json_t *stats_ctl_locks(struct vmx *x, json_t *req, const char **err);
#else
/* One stub under its own name: a release binary must not carry stats symbols. */
static inline json_t *stats_ctl_unavailable(struct vmx *x, json_t *req, const char **err)
{
	(void)x; (void)req;
	*err = "counters and kstats need a stats build (vmx-stats)";
	return NULL;
}
#define stats_ctl_stats stats_ctl_unavailable
#define stats_ctl_kstats stats_ctl_unavailable
#define stats_ctl_locks stats_ctl_unavailable
#endif

#endif
