/* Fork detection for the random pool at no cost per call.
 *
 * wx_fork_watch() registers, once at import, a pthread_atfork child handler that bumps
 * wx_forks in every child of fork() -- os.fork and forks made from C that run no Python hook
 * (uWSGI, ctypes' libc.fork()) alike. The pool compares wx_forks_now() with the value it
 * was filled under: a plain load, where getpid() cost a syscall on every frame.
 *
 * Should registration fail, wx_forks_now() falls back to getpid(), which also changes in
 * every child. Windows has no fork: the value never changes there. */
#ifndef WXCORP_FORK_H
#define WXCORP_FORK_H

#ifdef _WIN32
static int wx_fork_watch(void) { return 0; }
static unsigned long wx_forks_now(void) { return 0; }
#else
#include <pthread.h>
#include <unistd.h>

static unsigned long wx_forks = 0;   /* forks since import in this process's ancestry */
static int wx_forks_watched = 0;     /* set once at import, before any draw */

/* Runs in the child right after fork(), one thread only: async-signal-safe by itself. */
static void wx_fork_child(void) { wx_forks++; }

/* Register the child handler; 0, or -1 when registration failed (getpid() then). */
static int wx_fork_watch(void)
{
    if (!wx_forks_watched && pthread_atfork(NULL, NULL, wx_fork_child) == 0)
        wx_forks_watched = 1;
    return wx_forks_watched ? 0 : -1;
}

/* A value that differs in a forked child from the one its parent last saw. The fallback's
 * pid shares no range with the counter's use: the choice is made once, before any draw. */
static inline unsigned long wx_forks_now(void)
{
    return wx_forks_watched ? wx_forks : (unsigned long)getpid();
}
#endif

#endif
