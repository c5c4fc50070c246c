/*
 * build.h - the one place where the build type becomes code.
 *
 * The Makefile defines VMX_DEBUG, VMX_STATS, VMX_DEVEL and VMX_BUILDTYPE_NAME for
 * each build type (release, beta, stats, opt, obj).  Everything else reads the
 * 0/1 constants below, so code says `if (VMX_DEBUG)` and the compiler removes the
 * dead branch; features that must be absent from a binary (stats, debug checks)
 * live in their own .c files that the Makefile only links into the build types
 * that want them, with static inline stubs in their headers otherwise.
 *
 * Programs that are not the monitor (hostd, tools, tests) are built as
 * "host" with all three flags 0.
 */
#ifndef VMX_LIB_BUILD_H
#define VMX_LIB_BUILD_H

#ifndef VMX_DEBUG
#define VMX_DEBUG 0
#endif
#ifndef VMX_STATS
#define VMX_STATS 0
#endif
#ifndef VMX_DEVEL
#define VMX_DEVEL 0
#endif
#ifndef VMX_BUILDTYPE_NAME
#define VMX_BUILDTYPE_NAME "host"
#endif

#if (VMX_DEBUG != 0 && VMX_DEBUG != 1) || (VMX_STATS != 0 && VMX_STATS != 1) || \
    (VMX_DEVEL != 0 && VMX_DEVEL != 1)
#error "VMX_DEBUG, VMX_STATS and VMX_DEVEL must be 0 or 1"
#endif

#define VMX_LIKELY(x)   __builtin_expect(!!(x), 1)
#define VMX_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define VMX_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define VMX_UNUSED __attribute__((unused))
#define VMX_NORETURN __attribute__((noreturn))
#define VMX_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* Version of the product; the source revision comes from version.c, generated. */
extern const char vmx_version[];
extern const char vmx_revision[];

/*
 * Assertions by purpose.
 *  VMX_VERIFY(c)  cheap invariant, checked in every build type.
 *  VMX_ASSERT(c)  debug check: compiled out unless VMX_DEBUG.
 *  VMX_ASSERT_EXPENSIVE(c)  same, for checks that walk structures.
 * Never assert on something the guest can cause: that is a guest exception.
 * A failed check calls vmx_panic(), which writes a crash report (beta) and exits
 * with VMX_EXIT_PANIC.
 */
VMX_NORETURN VMX_PRINTF(3, 4) void vmx_panic(const char *file, int line, const char *fmt, ...);

#define VMX_VERIFY(c) \
	do { if (VMX_UNLIKELY(!(c))) vmx_panic(__FILE__, __LINE__, "VERIFY %s", #c); } while (0)
#define VMX_ASSERT(c) \
	do { if (VMX_DEBUG && VMX_UNLIKELY(!(c))) vmx_panic(__FILE__, __LINE__, "ASSERT %s", #c); } while (0)
#define VMX_ASSERT_EXPENSIVE(c) VMX_ASSERT(c)
#define VMX_NOT_REACHED() vmx_panic(__FILE__, __LINE__, "NOT_REACHED")

/* Process exit statuses shared by vmx and the tools that supervise it. */
enum {
	VMX_EXIT_OK = 0,       /* guest powered off */
	VMX_EXIT_ERROR = 1,    /* configuration or host error, message in the log */
	VMX_EXIT_USAGE = 2,    /* bad command line */
	VMX_EXIT_SUSPENDED = 3,/* VM state was saved to its checkpoint */
	VMX_EXIT_RESET = 4,    /* guest asked for a reboot and the board could not do it in place */
	VMX_EXIT_HANDEDOVER = 5,/* the VM now runs in another vmx process (docs/HANDOVER.md) */
	VMX_EXIT_PANIC = 70,   /* a monitor check failed; crash report written */
};

#endif
