/* The process id, for the fork check of the random pool: getpid() on POSIX, _getpid() on
 * Windows (no fork there; the check then never fires). */
#ifndef WXCORP_PID_H
#define WXCORP_PID_H

#ifdef _WIN32
#include <process.h>
static long wx_getpid(void) { return (long)_getpid(); }
#else
#include <unistd.h>
static long wx_getpid(void) { return (long)getpid(); }
#endif

#endif
