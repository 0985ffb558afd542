/*  stack_trim - gives a thread's unused stack pages back. See stack_trim.h. */
#include "stack_trim.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

//  Lowest address of this thread's stack above its guard, 0 until init.
static _Thread_local uintptr_t s_low;

int
stack_trim_init (void)
{
    pthread_attr_t attr;
    if (pthread_getattr_np (pthread_self (), &attr) != 0)
        return -1;
    void *addr = NULL;
    size_t size = 0, guard = 0;
    int rc =
        pthread_attr_getstack (&attr, &addr, &size) == 0 && pthread_attr_getguardsize (&attr, &guard) == 0
            ? 0
            : -1;
    pthread_attr_destroy (&attr);
    if (rc || !addr || guard >= size)
        return -1;
    //  glibc counts the guard in the stack's size, at its low end.
    s_low = (uintptr_t)addr + guard;
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
    //  This frame, the margin and a page more (the kernel's and the
    //  calls' own use below the frame: madvise itself runs there).
    if (frame < low + margin + 2 * page)
        return 0;
    uintptr_t high = (frame - margin - page) & ~(page - 1);
    if (high <= low)
        return 0;
    if (madvise ((void *)low, high - low, MADV_DONTNEED) != 0)
        return -1;
    return (long)(high - low);
}
