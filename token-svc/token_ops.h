#ifndef TOKEN_OPS_H
#define TOKEN_OPS_H

#include "bus_worker.h"

extern const bus_route_t token_routes[];
extern const size_t token_nroutes;

#endif
