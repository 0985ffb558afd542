/*  pidcache - getpid() from memory. See pidcache.h. */
#include "pidcache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

static _Atomic pid_t s_pid;
static pthread_once_t s_once = PTHREAD_ONCE_INIT;

//  In the child of a fork: the next getpid asks the kernel.
static void
s_forget (void)
{
    atomic_store_explicit (&s_pid, 0, memory_order_relaxed);
}

static void
s_register (void)
{
    pthread_atfork (NULL, NULL, s_forget);
}

pid_t
getpid (void)
{
    pid_t pid = atomic_load_explicit (&s_pid, memory_order_relaxed);
    if (pid == 0) {
        //  The fork handler is in place before the first value is kept, so
        //  a child never inherits a value without also forgetting it.
        pthread_once (&s_once, s_register);
        pid = (pid_t)syscall (SYS_getpid);
        atomic_store_explicit (&s_pid, pid, memory_order_relaxed);
    }
    return pid;
}

pid_t
pidcache_init (void)
{
    return getpid ();
}
