/*  stack_trim - gives a thread's unused stack pages back to the kernel.
 *  A page of a thread's stack, once touched, stays resident for the thread's
 *  life. A pool thread that waits between jobs keeps what its deepest job
 *  touched; hundreds of them that take jobs in turn all keep it. Called
 *  between jobs, stack_trim releases the part of the stack below the
 *  caller's frame (madvise MADV_DONTNEED: the pages read as zeroes when
 *  touched again, which is what an unused stack holds). */
#ifndef OST_STACK_TRIM_H
#define OST_STACK_TRIM_H

#include "ost.h"

#include <stddef.h>

//  Remembers the calling thread's stack bounds for stack_trim. 0 ok, -1
//  when they cannot be read (stack_trim then does nothing).
OST_WUR int stack_trim_init (void);

//  Releases the calling thread's stack below the caller's frame, but for
//  margin bytes next to it (rounded up to pages). Returns the length of the
//  range released, resident or not (0 when stack_trim_init was not called on
//  this thread or nothing is below the margin), -1 when the kernel refused.
long stack_trim (size_t margin);

//  stack_trim, unless this thread trimmed less than interval_ms ago (then 0).
//  A trim is not free (the madvise, a TLB flush on every core running the
//  process, the pages faulted in again at the next deep call): a thread that
//  is called between jobs many times a second trims at most once per
//  interval, one called rarely each time.
long stack_trim_paced (size_t margin, long interval_ms);

#endif
