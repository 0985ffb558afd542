/*  Unit tests of common/stack_trim: the stack a deep call touched stops being
 *  resident once trimmed, the caller's frame and the margin stay, and a
 *  thread that did not call stack_trim_init keeps its stack. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

//  cmocka.h after the headers it needs (a block of its own keeps clang-format from sorting it first).
#include <cmocka.h>

#include "stack_trim.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define DEEP (256 * 1024)

//  Touches DEEP bytes of stack below the caller; returns their sum so the
//  writes are not optimised away.
__attribute__ ((noinline)) static int
s_deep_call (void)
{
    volatile char buf[DEEP];
    for (size_t i = 0; i < DEEP; i += 512)
        buf[i] = (char)(i >> 9);
    int sum = 0;
    for (size_t i = 0; i < DEEP; i += 4096)
        sum += buf[i];
    return sum;
}

//  Resident bytes of this thread's stack between its lowest address and
//  below, by mincore.
static size_t
s_resident_below (uintptr_t below)
{
    pthread_attr_t attr;
    void *addr;
    size_t size;
    assert_int_equal (pthread_getattr_np (pthread_self (), &attr), 0);
    assert_int_equal (pthread_attr_getstack (&attr, &addr, &size), 0);
    pthread_attr_destroy (&attr);
    uintptr_t page = (uintptr_t)sysconf (_SC_PAGESIZE);
    uintptr_t low = ((uintptr_t)addr + page - 1) & ~(page - 1);
    below &= ~(page - 1);
    if (below <= low)
        return 0;
    size_t pages = (below - low) / page;
    unsigned char *vec = calloc (pages, 1);
    assert_non_null (vec);
    assert_int_equal (mincore ((void *)low, below - low, vec), 0);
    size_t resident = 0;
    for (size_t i = 0; i < pages; i++)
        resident += vec[i] & 1;
    free (vec);
    return resident * page;
}

typedef struct {
    int init;      //  call stack_trim_init first
    size_t margin; //  stack_trim's
    size_t before; //  resident below the frame after the deep call
    size_t after;  //  and after stack_trim
    long trimmed;  //  what stack_trim returned
    int sum_again; //  the deep call after the trim
} s_run_t;

static void *
s_thread (void *arg)
{
    s_run_t *run = arg;
    if (run->init && stack_trim_init () != 0)
        return NULL;
    uintptr_t frame = (uintptr_t)__builtin_frame_address (0);
    //  8 KiB below this frame stay out of the count: calls of this function
    //  (mincore, the trim itself) use them.
    uintptr_t below = frame - 8192;
    int sum = s_deep_call ();
    run->before = s_resident_below (below);
    run->trimmed = stack_trim (run->margin);
    run->after = s_resident_below (below);
    run->sum_again = s_deep_call () - sum;
    return NULL;
}

//  Runs fn (arg) on a new thread with a 1 MiB stack, and waits for it.
static void
s_in_thread (void *(*fn) (void *), void *arg)
{
    pthread_attr_t attr;
    pthread_attr_init (&attr);
    pthread_attr_setstacksize (&attr, 1024 * 1024);
    pthread_t thread;
    assert_int_equal (pthread_create (&thread, &attr, fn, arg), 0);
    pthread_join (thread, NULL);
    pthread_attr_destroy (&attr);
}

static s_run_t
s_run (int init, size_t margin)
{
    s_run_t run = {.init = init, .margin = margin, .trimmed = -2};
    s_in_thread (s_thread, &run);
    return run;
}

static void
test_the_stack_a_deep_call_touched_is_given_back (void **state)
{
    (void)state;
    s_run_t run = s_run (1, 0);
    assert_true (run.before >= DEEP - 16 * 1024);
    assert_true (run.trimmed >= DEEP - 16 * 1024);
    //  Nothing of it is resident any more.
    assert_int_equal (run.after, 0);
    //  And the stack works as before.
    assert_int_equal (run.sum_again, 0);
}

static void
test_the_margin_below_the_frame_stays (void **state)
{
    (void)state;
    size_t margin = 64 * 1024;
    s_run_t run = s_run (1, margin);
    assert_true (run.before >= DEEP - 16 * 1024);
    //  The margin (less the 8 KiB the count leaves out, plus a page) stays resident.
    size_t page = (size_t)sysconf (_SC_PAGESIZE);
    assert_in_range (run.after, margin - 8192, margin + 2 * page);
    //  The range released covers what went (resident or not, it counts whole).
    assert_true (run.trimmed > 0);
    assert_true ((size_t)run.trimmed >= run.before - run.after - 2 * page);
}

static void
test_a_thread_not_initialised_keeps_its_stack (void **state)
{
    (void)state;
    s_run_t run = s_run (0, 0);
    assert_int_equal (run.trimmed, 0);
    assert_true (run.after >= DEEP - 16 * 1024);
    assert_int_equal (run.after, run.before);
}

static void
test_a_margin_past_the_stack_trims_nothing (void **state)
{
    (void)state;
    s_run_t run = s_run (1, 64 * 1024 * 1024);
    assert_int_equal (run.trimmed, 0);
    assert_int_equal (run.after, run.before);
    //  Nor one that would wrap around the address space.
    run = s_run (1, SIZE_MAX - 4096);
    assert_int_equal (run.trimmed, 0);
    assert_int_equal (run.after, run.before);
    assert_int_equal (run.sum_again, 0);
}

//  Paced: the first trim of a thread happens; a second within interval_ms
//  does not (its deep call stays resident), one with interval 0 does.
typedef struct {
    long interval_ms;
    long first, second;
    size_t resident_after_second;
} s_paced_t;

static void *
s_paced_thread (void *arg)
{
    s_paced_t *run = arg;
    if (stack_trim_init () != 0)
        return NULL;
    uintptr_t below = (uintptr_t)__builtin_frame_address (0) - 8192;
    int sum = s_deep_call ();
    run->first = stack_trim_paced (0, run->interval_ms);
    sum -= s_deep_call ();
    run->second = stack_trim_paced (0, run->interval_ms);
    run->resident_after_second = s_resident_below (below) + (size_t)(sum != 0);
    return NULL;
}

static s_paced_t
s_paced (long interval_ms)
{
    s_paced_t run = {.interval_ms = interval_ms, .first = -2, .second = -2};
    s_in_thread (s_paced_thread, &run);
    return run;
}

static void
test_paced_trims_at_most_once_per_interval (void **state)
{
    (void)state;
    s_paced_t hour = s_paced (3600 * 1000L);
    assert_true (hour.first >= DEEP - 16 * 1024);
    assert_int_equal (hour.second, 0);
    assert_true (hour.resident_after_second >= DEEP - 16 * 1024);
    s_paced_t always = s_paced (0);
    assert_true (always.first >= DEEP - 16 * 1024);
    assert_true (always.second >= DEEP - 16 * 1024);
    assert_int_equal (always.resident_after_second, 0);
    //  A thread that did not call stack_trim_init is never trimmed.
    assert_int_equal (stack_trim_paced (0, 0), 0);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_the_stack_a_deep_call_touched_is_given_back),
        cmocka_unit_test (test_the_margin_below_the_frame_stays),
        cmocka_unit_test (test_a_thread_not_initialised_keeps_its_stack),
        cmocka_unit_test (test_a_margin_past_the_stack_trims_nothing),
        cmocka_unit_test (test_paced_trims_at_most_once_per_interval),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
