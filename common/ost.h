/*  ost - project-wide macros shared by every class of common/. */
#ifndef OST_H
#define OST_H

//  Helpers that return 0/-1 or NULL: ignoring the result is a bug.
#define OST_WUR __attribute__ ((warn_unused_result))
#define OST_UNUSED(x) (void)(x)

#endif
