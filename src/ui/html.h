/* html: the web UI's template helper.
 *
 * Pages are C format strings rendered into a buf by html_printf, whose
 * conversions escape what they insert, so a value from a user, a README or a
 * repository can never turn into markup or leave an attribute:
 *   %s  text, HTML-escaped (& < > " '): safe in element content and in quoted
 *       attributes
 *   %u  one URL component, percent-encoded (everything but A-Z a-z 0-9 - . _ ~)
 *   %p  a URL path, percent-encoded like %u but keeping '/'
 *   %h  trusted HTML made by an earlier html_printf (never user input)
 *   %d  int          %l  long long
 *   %%  a percent sign
 * A NULL string inserts nothing. An unknown conversion is a programming error:
 * it is logged and the call fails. */
#ifndef HANGAR_HTML_H
#define HANGAR_HTML_H

#include <stddef.h>

#include "lib/buf.h"

/* 0, or -1 when memory runs out or fmt is malformed. */
int html_printf(buf *b, const char *fmt, ...);
int html_escape(buf *b, const char *s, size_t len);
/* keep_slash: a path (%p) rather than one component (%u). */
int html_url_encode(buf *b, const char *s, size_t len, int keep_slash);

#endif
