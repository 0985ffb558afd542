#ifndef FLOW_OPS_H
#define FLOW_OPS_H

#include "bus_worker.h"

extern const bus_route_t flow_routes[];
extern const size_t flow_nroutes;

#endif
