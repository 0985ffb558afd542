/*  keys_service - keys-svc as a service_def_t: its op table and its app
 *  (the keyring under the KEK, the control and janitor threads). main.c
 *  runs it with service_main; tests run it in-process with service_new. */
#ifndef KEYS_SERVICE_H
#define KEYS_SERVICE_H

#include "service.h"

service_def_t keys_service_def (void);

#endif
