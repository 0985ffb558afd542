/*  fuzz_bus - the bus codec: one wire frame (bus_msg_decode) and one msgpack
 *  body (bus_body_validate, bus_body_to_json), the bytes a peer on the bus
 *  controls entirely.
 *
 *  Besides "no crash, no leak, no undefined behaviour" it checks two
 *  properties: a frame that decodes re-encodes to a frame that decodes to the
 *  same fields and body, and a body that converts to JSON converts back to
 *  msgpack that converts to the same JSON. The input is offered both as a
 *  whole frame and as a bare body, so that one corpus serves both parsers. */
#include "bus_msg.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const unsigned char *data, size_t size);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    //  Every malformed frame is logged as a warning; only errors are wanted here.
    log_init ("fuzz", OST_LOG_ERROR);
    return 0;
}

static void
s_check_body (const unsigned char *data, size_t size)
{
    int valid = bus_body_validate (data, size, BUS_MAX_DEPTH) == 0;
    json_t *json = bus_body_to_json (data, size);
    //  A body that converts has passed validation first.
    if (json && !valid)
        abort ();
    if (!json)
        return;
    char *packed = NULL;
    size_t packed_len = 0;
    if (bus_body_from_json (json, &packed, &packed_len) == 0) {
        json_t *again = bus_body_to_json (packed, packed_len);
        if (!again || !json_equal (json, again))
            abort ();
        json_decref (again);
    }
    free (packed);
    json_decref (json);
}

static bus_msg_t *
s_decode (const void *data, size_t size)
{
    zmsg_t *msg = zmsg_new ();
    if (!msg || zmsg_addmem (msg, data, size)) {
        zmsg_destroy (&msg);
        return NULL;
    }
    return bus_msg_decode (&msg, BUS_DEFAULT_MAX_MSG);
}

static int
s_same (const bus_msg_t *a, const bus_msg_t *b)
{
    size_t alen, blen;
    const unsigned char *abody = bus_msg_body (a, &alen);
    const unsigned char *bbody = bus_msg_body (b, &blen);
    return bus_msg_type (a) == bus_msg_type (b) && strcmp (bus_msg_service (a), bus_msg_service (b)) == 0 &&
           strcmp (bus_msg_op (a), bus_msg_op (b)) == 0 &&
           strcmp (bus_msg_request_id (a), bus_msg_request_id (b)) == 0 &&
           bus_msg_deadline (a) == bus_msg_deadline (b) &&
           strcmp (bus_msg_trace (a), bus_msg_trace (b)) == 0 && alen == blen &&
           (alen == 0 || memcmp (abody, bbody, alen) == 0);
}

int
LLVMFuzzerTestOneInput (const unsigned char *data, size_t size)
{
    bus_msg_t *msg = s_decode (data, size);
    if (msg) {
        zmsg_t *wire = bus_msg_encode (msg);
        if (!wire || zmsg_size (wire) != 1)
            abort ();
        bus_msg_t *again = bus_msg_decode (&wire, BUS_DEFAULT_MAX_MSG);
        if (!again || !s_same (msg, again))
            abort ();
        bus_msg_destroy (&again);
        size_t body_len;
        const unsigned char *body = bus_msg_body (msg, &body_len);
        if (body_len)
            s_check_body (body, body_len);
        bus_msg_destroy (&msg);
    }
    s_check_body (data, size);
    return 0;
}
