/*
 * crash.h - a hook run once when the monitor panics, before it exits; the vmx
 * program uses it to write the crash report into the VM directory.
 */
#ifndef VMX_LIB_CRASH_H
#define VMX_LIB_CRASH_H

void crash_set_hook(void (*hook)(const char *msg));

#endif
