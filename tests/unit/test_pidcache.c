/*  Unit tests: common/pidcache (getpid from memory, right after a fork). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

//  cmocka.h after the headers it needs (a block of its own keeps clang-format from sorting it first).
#include <cmocka.h>

#include "pidcache.h"

#include <dlfcn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void
test_init_and_getpid_answer_the_kernel_pid (void **state)
{
    (void)state;
    pid_t kernel = (pid_t)syscall (SYS_getpid);
    assert_int_equal (pidcache_init (), kernel);
    for (int i = 0; i < 3; i++)
        assert_int_equal (getpid (), kernel);
}

//  The point of the module: every caller in the process, shared libraries
//  (libzmq) included, binds to this getpid, not glibc's.
static void
test_shared_libraries_bind_to_this_getpid (void **state)
{
    (void)state;
    void *global = dlsym (RTLD_DEFAULT, "getpid");
    assert_non_null (global);
    assert_ptr_equal (global, (void *)getpid);
    void *libc = dlopen ("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
    assert_non_null (libc);
    assert_ptr_not_equal (dlsym (libc, "getpid"), (void *)getpid);
    dlclose (libc);
}

static void
test_a_forked_child_sees_its_own_pid (void **state)
{
    (void)state;
    pid_t parent = pidcache_init ();
    pid_t child = fork ();
    assert_true (child >= 0);
    if (child == 0) {
        //  In the child: its own pid, not the parent's cached one (exit code
        //  0 = right; the parent checks it).
        pid_t mine = getpid ();
        _exit (mine == (pid_t)syscall (SYS_getpid) && mine != parent && getppid () == parent ? 0 : 1);
    }
    int status = 0;
    assert_int_equal (waitpid (child, &status, 0), child);
    assert_true (WIFEXITED (status));
    assert_int_equal (WEXITSTATUS (status), 0);
    //  The parent's cache is untouched.
    assert_int_equal (getpid (), parent);
    assert_int_equal (getpid (), (pid_t)syscall (SYS_getpid));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_init_and_getpid_answer_the_kernel_pid),
        cmocka_unit_test (test_shared_libraries_bind_to_this_getpid),
        cmocka_unit_test (test_a_forked_child_sees_its_own_pid),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
