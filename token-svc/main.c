/*  token-svc - clients, authorization requests, codes, tokens and userinfo
 *  validation; refresh rotation, revocation, introspection, client
 *  credentials and the janitor thread. Stateless between requests: run as
 *  many replicas as the load needs; everything they share is in schema
 *  token. The service itself is token_service.c. */
#include "token_service.h"

int
main (int argc, char **argv)
{
    service_def_t def = token_service_def ();
    return service_main (argc, argv, &def);
}
