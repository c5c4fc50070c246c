/*
 * crash.h - what runs once when the monitor panics, before it exits: a hook
 * (the vmx program's writes the crash report into the VM directory) and then
 * cleanups that must happen on every exit path, such as removing the control
 * socket and giving the terminal its settings back.
 */
#ifndef VMX_LIB_CRASH_H
#define VMX_LIB_CRASH_H

void crash_set_hook(void (*hook)(const char *msg));
/*
 * Registers fn to run on a panic after the hook (at most 8; later ones are
 * ignored).  fn runs in a dying process, possibly in a signal handler: it
 * must be short and async-signal-safe (unlink, close, tcsetattr).
 */
void crash_add_cleanup(void (*fn)(void));
/* Runs the registered cleanups once (later calls do nothing). */
void crash_run_cleanups(void);
/*
 * True from the moment a panic starts.  Other threads run on while the report
 * is written: one that creates something a cleanup would remove (the control
 * socket) checks this afterwards and removes it itself.
 */
int crash_in_progress(void);

#endif
