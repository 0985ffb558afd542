/*  flow_service - flow-svc as a service_def_t: its op table, its app (flow
 *  definitions, outbox, janitor) and its prepared statements. main.c runs
 *  it with service_main; tests run it in-process with service_new. */
#ifndef FLOW_SERVICE_H
#define FLOW_SERVICE_H

#include "service.h"

//  flow-svc's definition (the op table is sized at link time, hence a
//  function rather than a constant).
service_def_t flow_service_def (void);

#endif
