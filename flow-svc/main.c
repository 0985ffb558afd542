/*  flow-svc - users, login sessions and authentication flows: the flow
 *  engine (docs/flows.md). Executions are rows: a restart loses nothing.
 *  The service itself is flow_service.c. */
#include "flow_service.h"

int
main (int argc, char **argv)
{
    service_def_t def = flow_service_def ();
    return service_main (argc, argv, &def);
}
