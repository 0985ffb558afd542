/*  qr - QR code as inline SVG. See qr.h. */
#include "qr.h"

#include <qrencode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  ISO/IEC 18004 §6.3.8: the symbol is surrounded by a quiet zone four
//  modules wide, which scanners need to find it.
#define QR_QUIET 4

char *
qr_svg (const char *text)
{
    if (!text || !text[0] || strlen (text) > QR_MAX_TEXT)
        return NULL;
    //  Level M recovers about 15% of the symbol: enough for a screen, and
    //  the symbol stays small. Version 0 lets libqrencode pick the smallest.
    QRcode *code = QRcode_encodeString (text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    if (!code)
        return NULL;
    int width = code->width;
    int size = width + 2 * QR_QUIET;
    //  One path of unit squares, one per dark module ("M x yh1v1h-1z" is at
    //  most 24 bytes), plus the frame.
    size_t cap = (size_t)width * (size_t)width * 24 + 512;
    char *svg = malloc (cap);
    if (!svg) {
        QRcode_free (code);
        return NULL;
    }
    size_t used =
        (size_t)snprintf (svg, cap,
                          "<svg class=\"qr\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
                          "shape-rendering=\"crispEdges\" role=\"img\" aria-labelledby=\"qr-title\">"
                          "<title id=\"qr-title\">QR code of the otpauth URI</title>"
                          "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/><path fill=\"#000\" d=\"",
                          size, size, size, size);
    for (int y = 0; y < width; y++)
        for (int x = 0; x < width; x++)
            //  libqrencode: bit 0 of each byte is the module's colour (1 dark).
            if (code->data[y * width + x] & 1) {
                int n = snprintf (svg + used, cap - used, "M%d %dh1v1h-1z", x + QR_QUIET, y + QR_QUIET);
                if (n < 0 || (size_t)n >= cap - used) {
                    free (svg);
                    QRcode_free (code);
                    return NULL;
                }
                used += (size_t)n;
            }
    int n = snprintf (svg + used, cap - used, "\"/></svg>");
    QRcode_free (code);
    if (n < 0 || (size_t)n >= cap - used) {
        free (svg);
        return NULL;
    }
    return svg;
}
