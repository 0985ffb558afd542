/*  authorize - the authorization endpoint (OpenID Connect Core §3.1.2,
 *  RFC 6749 §4.1) and the steps of the code flow that the login, consent
 *  and account pages share: deciding what comes after authentication,
 *  starting a flow of flow-svc, and sending the authorization response
 *  (query, fragment or form_post) that token-svc built.
 *
 *  The gateway decides nothing about the protocol by itself: token-svc
 *  validates the request and builds every response; flow-svc knows the
 *  sessions. The gateway only reads their answers and renders them. */
#ifndef OST_GW_AUTHORIZE_H
#define OST_GW_AUTHORIZE_H

#include "http.h"
#include "ops.h"
#include "pages.h"

#include <jansson.h>

//  Q is a request (shape request of proto/ops/token.def) as token.authorize
//  and token.request_get answer it.

//  The authorization response R of token.authorize, token.authorize_error
//  or token.issue_code: a 302 (303 after a POST, RFC 9700 §4.12) to the
//  redirect URI with the parameters in its query or fragment, or the
//  auto-submitting form of form_post.
int authz_respond (gw_req_t *req, const shape_redirect_t *redirect, int after_post, pages_headers_t *headers);
//  Ends request Q with an error sent to the client (token.authorize_error).
int authz_fail (gw_req_t *req, const shape_request_t *q, ost_err_t error, const char *description,
                int after_post, pages_headers_t *headers);
//  The user of session (flow.session_get's, or the one a login flow's
//  result issued; sid, sub, auth_time and amr are read) is authenticated
//  for request Q: asks for consent when it is needed (the consent page),
//  else issues the code and sends the response.
int authz_continue (gw_req_t *req, const shape_request_t *q, const shape_session_t *session,
                    const char *session_handle, int after_post, pages_headers_t *headers);
//  token.issue_code for Q and the user of session, then the response.
//  granted: 1 the user allowed the client on the consent page just now (a
//  consent token-svc then remembers), -1 they denied it (token-svc answers
//  access_denied and audits the refusal), 0 the page was not shown.
int authz_issue_code (gw_req_t *req, const shape_request_t *q, const shape_session_t *session, int granted,
                      int after_post, pages_headers_t *headers);
//  Starts a flow of flow-svc (flow.start) for Q (purpose "login", "consent" or
//  "select_account"), sets the flow cookie and redirects (303) to its page.
int authz_start_flow (gw_req_t *req, const shape_request_t *q, const char *purpose,
                      const char *session_handle, pages_headers_t *headers);
//  The live SSO session of the browser's cookie (flow.session_get): 1 with
//  *session (its strings live in *reply, which the caller decrefs), 0 when
//  there is none (handle "": no cookie; else a cookie that names no live
//  session), -1 after answering. handle receives the cookie's value.
int authz_session (gw_req_t *req, char *handle, size_t size, json_t **reply, shape_session_t *session,
                   pages_headers_t *headers);
//  The CSP form-action source of Q's redirect URI ("" when unknown).
void authz_form_action (const shape_request_t *q, char *out, size_t size);

//  Handlers: GET and POST /authorize.
int authorize_get (gw_req_t *req);
int authorize_post (gw_req_t *req);

#endif
