/*  token_service - token-svc as a service_def_t: its op table, its app
 *  (settings, client cache, janitor thread) and its prepared statements.
 *  main.c runs it with service_main; tests run it in-process with
 *  service_new. */
#ifndef TOKEN_SERVICE_H
#define TOKEN_SERVICE_H

#include "service.h"

//  token-svc's definition (the op table is sized at link time, hence a
//  function rather than a constant).
service_def_t token_service_def (void);

#endif
