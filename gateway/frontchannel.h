/*  frontchannel - OpenID Connect Front-Channel Logout 1.0 §3 on the pages
 *  shown after a session ended (/logout, /account/sessions): one hidden
 *  iframe per client of the session that registered a
 *  frontchannel_logout_uri (token.frontchannel_frames), and the CSP
 *  frame-src that admits exactly their origins. No script: the browser
 *  loads each frame with the page. */
#ifndef GW_FRONTCHANNEL_H
#define GW_FRONTCHANNEL_H

#include "http.h"
#include "pages.h"

#include <jansson.h>

//  Room for the frame-src sources of every frame of a page.
#define FRONTCHANNEL_SRC_MAX 4096

//  Appends to body the iframes of the clients (an array of session_client
//  objects, flow.session_end's answer) of the ended session sid, and writes
//  their origins, space-separated, to frame_src ("" when there is none: the
//  page then keeps frame-src 'none'). A failure to get them is logged and
//  renders none: the session has ended either way.
void frontchannel_render (gw_req_t *req, const char *sid, const json_t *clients, html_t *body,
                          char frame_src[FRONTCHANNEL_SRC_MAX]);

#endif
