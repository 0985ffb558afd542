/*  keys-svc - the only process that holds private signing keys. It
 *  generates them (RS256, ES256, EdDSA), keeps them encrypted at rest under
 *  OSTIARY_KEK, publishes the public JWKS and signs the JWTs it frames
 *  itself. See ARCHITECTURE.md, "Keys". The service itself is
 *  keys_service.c. */
#include "keys_service.h"

int
main (int argc, char **argv)
{
    service_def_t def = keys_service_def ();
    return service_main (argc, argv, &def);
}
