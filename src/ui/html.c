#include "ui/html.h"

#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

#include "lib/log.h"

int html_escape(buf *b, const char *s, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        const char *rep;
        switch (s[i]) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        default:
            continue;
        }
        if (buf_append(b, s + start, i - start) < 0 || buf_puts(b, rep) < 0)
            return -1;
        start = i + 1;
    }
    return buf_append(b, s + start, len - start);
}

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

/* The output holds only unreserved characters, '/' and %XX: nothing that HTML
 * would read as markup, so it needs no escaping after. */
int html_url_encode(buf *b, const char *s, size_t len, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c) || (keep_slash && c == '/')) {
            if (buf_append(b, &s[i], 1) < 0)
                return -1;
            continue;
        }
        char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
        if (buf_append(b, esc, 3) < 0)
            return -1;
    }
    return 0;
}

static int convert(buf *b, char conv, va_list *ap)
{
    const char *s;
    switch (conv) {
    case 's':
        s = va_arg(*ap, const char *);
        return s ? html_escape(b, s, strlen(s)) : 0;
    case 'u':
    case 'p':
        s = va_arg(*ap, const char *);
        return s ? html_url_encode(b, s, strlen(s), conv == 'p') : 0;
    case 'h':
        s = va_arg(*ap, const char *);
        return s ? buf_puts(b, s) : 0;
    case 'd':
        return buf_printf(b, "%d", va_arg(*ap, int));
    case 'l':
        return buf_printf(b, "%lld", va_arg(*ap, long long));
    case '%':
        return buf_append(b, "%", 1);
    default:
        log_error("html", "unknown conversion %%%c in a template", conv ? conv : '0');
        return -1;
    }
}

int html_printf(buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = 0;
    while (*fmt && rc == 0) {
        const char *pct = strchr(fmt, '%');
        size_t n = pct ? (size_t)(pct - fmt) : strlen(fmt);
        rc = buf_append(b, fmt, n);
        if (!pct || rc < 0)
            break;
        rc = convert(b, pct[1], &ap);
        fmt = pct[1] ? pct + 2 : pct + 1;
    }
    va_end(ap);
    return rc;
}
