/*  stack_trim - gives a thread's unused stack pages back. See stack_trim.h. */
#include "stack_trim.h"

#include <czmq.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

//  Lowest address of this thread's stack, 0 until init.
static _Thread_local uintptr_t s_low;
//  zclock_mono () of this thread's last paced trim, -1: none yet.
static _Thread_local int64_t s_last_ms = -1;

int
stack_trim_init (void)
{
    pthread_attr_t attr;
    if (pthread_getattr_np (pthread_self (), &attr) != 0)
        return -1;
    void *addr = NULL;
    size_t size = 0;
    int rc = pthread_attr_getstack (&attr, &addr, &size);
    pthread_attr_destroy (&attr);
    if (rc || !addr || !size)
        return -1;
    //  glibc reports the stack above its guard page(s) (the mapping's size
    //  less the guard's); the guard, PROT_NONE, would be left as it is anyway.
    s_low = (uintptr_t)addr;
    return 0;
}

//  Not inlined: its frame is below its caller's, and the caller's frame is
//  what must stay.
__attribute__ ((noinline)) long
stack_trim (size_t margin)
{
    if (!s_low)
        return 0;
    uintptr_t page = (uintptr_t)sysconf (_SC_PAGESIZE);
    uintptr_t frame = (uintptr_t)__builtin_frame_address (0);
    uintptr_t low = (s_low + page - 1) & ~(page - 1);
    //  This frame, the margin and a page more (the calls' own use below the
    //  frame: madvise's wrapper runs there) stay; compared by subtraction,
    //  so that no margin wraps around.
    if (frame <= low || frame - low < 2 * page || margin > frame - low - 2 * page)
        return 0;
    uintptr_t high = (frame - margin - page) & ~(page - 1);
    if (high <= low)
        return 0;
    if (madvise ((void *)low, high - low, MADV_DONTNEED) != 0)
        return -1;
    return (long)(high - low);
}

long
stack_trim_paced (size_t margin, long interval_ms)
{
    if (!s_low)
        return 0;
    int64_t now = zclock_mono ();
    if (s_last_ms >= 0 && now - s_last_ms < interval_ms)
        return 0;
    s_last_ms = now;
    return stack_trim (margin);
}
