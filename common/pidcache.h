/*  pidcache - getpid() answered from memory instead of a system call.
 *
 *  Issue 7: libzmq calls getpid() on every operation of a socket's mailbox
 *  (its fork detection, src/signaler.cpp), some 60 times per signed token
 *  across the suite, and glibc makes each call a system call (it stopped
 *  caching the pid in 2.25). System calls are what a request mostly costs
 *  on the paravirtualised machine we measure on (bench/README.md): perf
 *  put 7 % of the gateway's CPU time in getpid.
 *
 *  This module defines getpid itself. The dynamic linker binds every call
 *  in the process to the executable's definition, libzmq's included; it
 *  asks the kernel once, and again in the child after a fork (a
 *  pthread_atfork handler forgets the cached value, so libzmq's fork
 *  detection keeps working). None of our processes forks or spawns. */
#ifndef OST_PIDCACHE_H
#define OST_PIDCACHE_H

#include <sys/types.h>

//  Links the cache into the program and fills it; call first thing in
//  main. Returns the process id.
pid_t pidcache_init (void);

#endif
