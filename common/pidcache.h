/*  pidcache - getpid() answered from memory instead of a system call.
 *
 *  libzmq calls getpid() on every operation of a socket's mailbox
 *  (its fork detection, src/signaler.cpp), some 50 times per signed token
 *  across the suite, and glibc makes each call a system call (it stopped
 *  caching the pid in 2.25). System calls are what a request mostly costs
 *  on the paravirtualised machine we measure on (bench/README.md): perf
 *  put 7 % of the gateway's CPU time in getpid.
 *
 *  This module defines getpid itself. The dynamic linker binds every call
 *  in the process to the executable's definition, libzmq's included; it
 *  asks the kernel once, and again in the child after a fork (a
 *  pthread_atfork handler forgets the cached value, so libzmq's fork
 *  detection keeps working). None of our processes forks or spawns. A child
 *  made without the atfork handlers (vfork, posix_spawn, clone, _Fork)
 *  would see its parent's pid until it execs: do not add one that runs code
 *  of ours or of OpenSSL (whose fork detection reads getpid) before exec.
 *  The override needs dynamic linking (it binds through the executable's
 *  dynamic symbol table; test_pidcache checks that it does). */
#ifndef OST_PIDCACHE_H
#define OST_PIDCACHE_H

#include <sys/types.h>

//  Links the cache into the program and fills it; call first thing in
//  main. Returns the process id.
pid_t pidcache_init (void);

#endif
