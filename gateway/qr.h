/*  qr - a QR code (ISO/IEC 18004) of a short text as inline SVG markup, made
 *  with libqrencode. Used for the otpauth:// URI of TOTP enrollment, so that
 *  an authenticator app can scan it; the page also shows the URI and the
 *  secret as text for those who cannot scan. */
#ifndef OST_GW_QR_H
#define OST_GW_QR_H

#include "ost.h"

//  Longest text we encode (an otpauth URI is about 150 bytes).
#define QR_MAX_TEXT 1024

//  A new string holding one <svg> element (class "qr", with a title) that
//  draws text as a QR code with error correction level M and a four-module
//  quiet zone. Caller frees. NULL when text is empty, longer than
//  QR_MAX_TEXT, or cannot be encoded, or on failed allocation.
OST_WUR char *qr_svg (const char *text);

#endif
