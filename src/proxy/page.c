/* The proxy's own small pages (errors, waking up). */
#include <string.h>

#include "lib/buf.h"
#include "proxy/proxy.h"

static void put_escaped(buf *out, const char *text)
{
    for (const char *p = text; *p; p++) {
        switch (*p) {
        case '<':
            buf_puts(out, "&lt;");
            break;
        case '>':
            buf_puts(out, "&gt;");
            break;
        case '&':
            buf_puts(out, "&amp;");
            break;
        case '"':
            buf_puts(out, "&quot;");
            break;
        default:
            buf_append(out, p, 1);
        }
    }
}

void proxy_page(http_request *req, int status, const char *title, const char *message,
                const char *extra_head)
{
    buf page;
    buf_init(&page);
    buf_puts(&page, "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>");
    put_escaped(&page, title);
    buf_printf(&page,
               "</title>%s<style>body{font-family:system-ui,sans-serif;max-width:36em;"
               "margin:4em auto;padding:0 1em;color:#333}</style></head>\n<body><h1>",
               extra_head ? extra_head : "");
    put_escaped(&page, title);
    buf_puts(&page, "</h1>\n<p>");
    put_escaped(&page, message);
    buf_puts(&page, "</p>\n</body></html>\n");
    http_resp_header(req, "Cache-Control", "no-store");
    http_respond(req, status, "text/html; charset=utf-8", page.data ? page.data : "", page.len);
    buf_free(&page);
}
