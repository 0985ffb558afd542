/*  frontchannel - see frontchannel.h. */
#include "frontchannel.h"

#include "log.h"
#include "ops.h"

#include <string.h>

//  Adds origin to the space-separated list src unless it is there already.
static void
s_add_source (char src[FRONTCHANNEL_SRC_MAX], const char *origin)
{
    size_t n = strlen (origin), len = strlen (src);
    for (const char *p = src; *p;) {
        size_t word = strcspn (p, " ");
        if (word == n && strncmp (p, origin, n) == 0)
            return;
        p += word;
        p += *p == ' ';
    }
    if (len + (len ? 1 : 0) + n + 1 > FRONTCHANNEL_SRC_MAX)
        return;
    if (len)
        src[len++] = ' ';
    memcpy (src + len, origin, n + 1);
}

void
frontchannel_render (gw_req_t *req, const char *sid, const json_t *clients, html_t *body,
                     char frame_src[FRONTCHANNEL_SRC_MAX])
{
    frame_src[0] = '\0';
    if (!sid || !clients || json_array_size (clients) == 0)
        return;
    json_t *ids = json_array ();
    size_t i;
    const json_t *c;
    json_array_foreach (clients, i, c)
    {
        if (ids && json_array_append (ids, json_object_get (c, "client_id"))) {
            json_decref (ids);
            ids = NULL;
        }
    }
    token_frontchannel_frames_in_t in = {.sid = sid, .clients = ids};
    json_t *request = ids ? token_frontchannel_frames_in_pack (&in) : NULL;
    json_decref (ids);
    json_t *result = NULL;
    bus_error_t error;
    int rc = request ? http_bus_call (req, "token.frontchannel_frames", request, &result, &error) : -1;
    json_decref (request);
    token_frontchannel_frames_out_t out;
    char why[SCHEMA_WHY_MAX];
    if (rc != 0 || token_frontchannel_frames_out_unpack (result, &out, why, sizeof why) != 0) {
        log_warn ("front-channel logout: no frames (%s)", rc != 0 ? "token.frontchannel_frames failed" : why);
        json_decref (result);
        return;
    }
    const json_t *frame;
    json_array_foreach (out.frames, i, frame)
    {
        shape_frontchannel_frame_t f;
        char origin[512];
        //  A URI whose origin a CSP source cannot hold is not framed: the
        //  policy would refuse it anyway.
        if (shape_frontchannel_frame_unpack (frame, &f, why, sizeof why) != 0 ||
            pages_csp_origin (f.uri, origin, sizeof origin) != 0 || strncasecmp (origin, "http", 4) != 0)
            continue;
        s_add_source (frame_src, origin);
        html_raw (body, "<iframe class=\"fcl\" title=\"");
        html_text (body, pages_msg (req, "logout.frames.title"));
        html_raw (body, "\" data-client-id=\"");
        html_text (body, f.client_id);
        html_raw (body, "\" src=\"");
        html_text (body, f.uri);
        html_raw (body, "\"></iframe>\n");
    }
    json_decref (result);
}
