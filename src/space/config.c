/* config: a README's YAML front matter as cardData JSON and as a typed config.
 *
 * Two passes. The loader turns libyaml events into JSON typed like js-yaml (the
 * parser HF runs), and notes for each top-level key its README line and its
 * scalars as written. The checker then walks a table of known keys, validates
 * each and copies it into struct config. Every check runs and appends to an
 * error list, so validate-yaml can report them all; config_parse keeps the
 * first. Unknown keys stay in the card and are otherwise ignored. */
#include "space/config.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#define TAG_PREFIX "tag:yaml.org,2002:"

/* ---- front matter ------------------------------------------------------- */

/* Length of the line at s without its "\n" or "\r\n"; *next is where the next
 * line starts. */
static size_t line_len(const char *s, size_t len, size_t *next)
{
    const char *nl = memchr(s, '\n', len);
    size_t n = nl ? (size_t)(nl - s) : len;

    *next = nl ? n + 1 : len;
    if (n > 0 && s[n - 1] == '\r')
        n--;
    return n;
}

static bool is_fence(const char *s, size_t n)
{
    return n == 3 && memcmp(s, "---", 3) == 0;
}

/* Finds the YAML between the first line "---" and the next line that is exactly
 * "---": 1 with *body and *blen set, 0 when the README has no front matter. */
static int front_matter(const char *s, size_t len, const char **body, size_t *blen)
{
    size_t next, pos, adv;

    if (!s)
        return 0;
    if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
        s += 3;
        len -= 3;
    }
    if (!is_fence(s, line_len(s, len, &next)) || next == len)
        return 0;
    for (pos = next; pos < len; pos += adv) {
        if (is_fence(s + pos, line_len(s + pos, len - pos, &adv))) {
            *body = s + next;
            *blen = pos - next;
            return 1;
        }
    }
    return 0;
}

/* ---- scalars, typed like js-yaml's YAML 1.2 core schema ------------------ */

enum { T_ANY, T_STR, T_NULL, T_BOOL, T_INT, T_FLOAT };

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int digit_value(char c)
{
    if (is_digit(c))
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return 99;
}

static bool is_null(const char *s, size_t n)
{
    return n == 0 || (n == 1 && s[0] == '~') ||
           (n == 4 && (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) || !memcmp(s, "NULL", 4)));
}

/* 1 for true, 0 for false, -1 for neither. */
static int bool_value(const char *s, size_t n)
{
    if (n == 4 && (!memcmp(s, "true", 4) || !memcmp(s, "True", 4) || !memcmp(s, "TRUE", 4)))
        return 1;
    if (n == 5 && (!memcmp(s, "false", 5) || !memcmp(s, "False", 5) || !memcmp(s, "FALSE", 5)))
        return 0;
    return -1;
}

/* An integer as js-yaml reads it: [-+] then 0b.., 0o.., 0x.. or decimal digits
 * (leading zeros are decimal). Values past int64 become doubles, as in JS. */
static json_t *int_value(const char *s, size_t n, bool *ok)
{
    size_t i = 0;
    int base = 10, sign = 1;
    uint64_t u = 0;
    double d = 0;
    bool overflow = false;

    *ok = false;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        sign = s[i++] == '-' ? -1 : 1;
    if (i + 1 < n && s[i] == '0' && (s[i + 1] == 'b' || s[i + 1] == 'o' || s[i + 1] == 'x')) {
        base = s[i + 1] == 'b' ? 2 : s[i + 1] == 'o' ? 8 : 16;
        i += 2;
    }
    if (i == n)
        return NULL;
    for (; i < n; i++) {
        int v = digit_value(s[i]);
        if (v >= base)
            return NULL;
        if (u > (UINT64_MAX - (uint64_t)v) / (uint64_t)base)
            overflow = true;
        u = u * (uint64_t)base + (uint64_t)v;
        d = d * base + v;
    }
    *ok = true;
    if (!overflow && u <= (uint64_t)INT64_MAX)
        return json_integer(sign * (json_int_t)u);
    if (!overflow && sign < 0 && u == (uint64_t)INT64_MAX + 1)
        return json_integer(INT64_MIN);
    if (base == 10)
        d = strtod(s + (s[0] == '-' || s[0] == '+'), NULL); /* rounds once, not per digit */
    else if (!overflow)
        d = (double)u;
    return isfinite(d) ? json_real(sign * d) : json_null(); /* JSON has no infinity */
}

/* js-yaml's float pattern: [-+]?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?, or
 * \.[0-9]+([eE][-+]?[0-9]+)?, or [-+]?\.(inf|Inf|INF), or \.(nan|NaN|NAN). */
static bool is_float(const char *s, size_t n)
{
    size_t i = 0, d = 0;

    if (n == 4 && s[0] == '.' &&
        (!memcmp(s + 1, "nan", 3) || !memcmp(s + 1, "NaN", 3) || !memcmp(s + 1, "NAN", 3)))
        return true;
    if (n > 0 && (s[0] == '-' || s[0] == '+'))
        i++;
    if (n - i == 4 && s[i] == '.' &&
        (!memcmp(s + i + 1, "inf", 3) || !memcmp(s + i + 1, "Inf", 3) ||
         !memcmp(s + i + 1, "INF", 3)))
        return true;
    while (i < n && is_digit(s[i]))
        i++, d++;
    if (d == 0 && (i != 0 || n == 0 || s[0] != '.'))
        return false; /* ".5" but not "+.5" */
    if (i < n && s[i] == '.') {
        size_t frac = 0;
        for (i++; i < n && is_digit(s[i]); i++)
            frac++;
        if (d == 0 && frac == 0)
            return false;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t e = 0;
        if (++i < n && (s[i] == '-' || s[i] == '+'))
            i++;
        for (; i < n && is_digit(s[i]); i++)
            e++;
        if (e == 0)
            return false;
    }
    return i == n;
}

/* A float as JSON: integral values as integers (JSON.stringify(1.0) is "1"),
 * infinities and NaN as null (what JSON.stringify makes of them). */
static json_t *float_value(const char *s)
{
    const char *p = s + (*s == '-' || *s == '+');
    double v;

    if (p[0] == '.' && (p[1] == 'i' || p[1] == 'I'))
        return json_null();
    if (p[0] == '.' && (p[1] == 'n' || p[1] == 'N'))
        return json_null();
    v = strtod(s, NULL);
    if (!isfinite(v))
        return json_null();
    if (v == floor(v) && fabs(v) < 9007199254740992.0)
        return json_integer((json_int_t)v);
    return json_real(v);
}

/* Resolves scalar text s (n bytes, NUL-terminated as libyaml makes it) as type. Returns 0 with
 * *out set (NULL when memory ran out), or 1 when s is not of that type. */
static int scalar_resolve(const char *s, size_t n, int type, json_t **out)
{
    bool ok;
    int b;

    *out = NULL;
    if ((type == T_ANY || type == T_NULL) && is_null(s, n)) {
        *out = json_null();
        return 0;
    }
    if ((type == T_ANY || type == T_BOOL) && (b = bool_value(s, n)) >= 0) {
        *out = json_boolean(b);
        return 0;
    }
    if (type == T_ANY || type == T_INT) {
        *out = int_value(s, n, &ok);
        if (ok)
            return 0;
    }
    if ((type == T_ANY || type == T_FLOAT) && is_float(s, n)) {
        *out = float_value(s);
        return 0;
    }
    if (type == T_ANY || type == T_STR) {
        *out = json_stringn(s, n);
        return 0;
    }
    return 1;
}

/* The type an explicit tag asks for; -1 for tags Hangar does not support. */
static int tag_type(const char *tag)
{
    static const struct {
        const char *name;
        int type;
    } tags[] = {
        {"str", T_STR}, {"null", T_NULL}, {"bool", T_BOOL}, {"int", T_INT}, {"float", T_FLOAT}};
    size_t plen = strlen(TAG_PREFIX);

    if (!strcmp(tag, "!"))
        return T_STR; /* the non-specific tag of quoted scalars */
    if (strncmp(tag, TAG_PREFIX, plen) != 0)
        return -1;
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++)
        if (!strcmp(tag + plen, tags[i].name))
            return tags[i].type;
    return -1;
}

/* ---- loader: libyaml events to JSON ------------------------------------- */

/* A user's text, made safe to quote in a message: printable ASCII, cut short. */
static const char *quoted(const char *s, char *out, size_t size)
{
    size_t i = 0;

    for (; *s && i + 4 < size; s++)
        out[i++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
    if (*s)
        memcpy(out + i, "...", 3), i += 3;
    out[i] = '\0';
    return out;
}

typedef struct loader {
    yaml_parser_t parser;
    const char *body;
    size_t len;
    int line0;       /* README line of the YAML's first line */
    json_t *anchors; /* name -> [value, weight, height] */
    json_t *meta;    /* top-level key -> {"line": n, "raw": as written} */
    size_t weight;   /* nodes + scalar bytes so far, aliases expanded */
    char *err;
    size_t errsize;
} loader;

static int load_node(loader *ld, yaml_event_t *ev, int depth, int want_raw, json_t **out,
                     json_t **raw, int *height);

static int load_fail(loader *ld, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int load_fail(loader *ld, size_t line, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(ld->err, ld->errsize, "invalid YAML: %s (line %zu)", msg, line + (size_t)ld->line0);
    return -1;
}

static int load_oom(loader *ld)
{
    snprintf(ld->err, ld->errsize, "out of memory reading the front matter");
    return -1;
}

/* libyaml's own error, with the README line of the problem. */
static int load_yaml_error(loader *ld)
{
    yaml_parser_t *p = &ld->parser;
    size_t line = p->problem_mark.line;

    if (p->error == YAML_MEMORY_ERROR)
        return load_oom(ld);
    if (p->error == YAML_READER_ERROR) { /* only the byte offset is known */
        line = 0;
        for (size_t i = 0; i < p->problem_offset && i < ld->len; i++)
            line += ld->body[i] == '\n';
    }
    return load_fail(ld, line, "%s%s%s", p->problem ? p->problem : "syntax error",
                     p->context ? " " : "", p->context ? p->context : "");
}

static int load_next(loader *ld, yaml_event_t *ev)
{
    return yaml_parser_parse(&ld->parser, ev) ? 0 : load_yaml_error(ld);
}

/* Counts w towards the expansion limit: aliases can repeat a large node many
 * times over ("billion laughs"), and the card is serialised in API answers. */
static int load_weigh(loader *ld, size_t w, size_t line)
{
    ld->weight += w;
    if (ld->weight > CONFIG_MAX_EXPANDED)
        return load_fail(ld, line, "aliases expand to more than %d bytes", CONFIG_MAX_EXPANDED);
    return 0;
}

static int load_scalar(loader *ld, yaml_event_t *ev, json_t **out, json_t **raw)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length, line = ev->start_mark.line;
    const char *tag = (const char *)ev->data.scalar.tag;
    char q1[40], q2[72];
    int type = T_STR;

    if (!tag && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
        type = T_ANY; /* only plain scalars are resolved; quoted ones stay strings */
    else if (tag && (type = tag_type(tag)) < 0)
        return load_fail(ld, line, "unsupported tag %s", quoted(tag, q2, sizeof q2));
    if (load_weigh(ld, 1 + n, line) < 0)
        return -1;
    if (scalar_resolve(s, n, type, out) != 0)
        return load_fail(ld, line, "cannot resolve %s with explicit tag %s",
                         quoted(s, q1, sizeof q1), quoted(tag, q2, sizeof q2));
    if (!*out || (raw && !json_is_string(*out) && !(*raw = json_stringn(s, n))))
        return load_oom(ld);
    return 0;
}

static int load_alias(loader *ld, yaml_event_t *ev, int depth, json_t **out, int *height)
{
    const char *name = (const char *)ev->data.alias.anchor;
    size_t line = ev->start_mark.line;
    json_t *a = json_object_get(ld->anchors, name);
    char q[72];

    if (!a)
        return load_fail(ld, line, "unknown alias *%s", quoted(name, q, sizeof q));
    *height = (int)json_integer_value(json_array_get(a, 2));
    if (*height > 0 && depth + *height - 1 > CONFIG_MAX_DEPTH)
        return load_fail(ld, line, "nesting deeper than %d levels", CONFIG_MAX_DEPTH);
    if (load_weigh(ld, (size_t)json_integer_value(json_array_get(a, 1)), line) < 0)
        return -1;
    *out = json_incref(json_array_get(a, 0));
    return 0;
}

static int load_sequence(loader *ld, int depth, int want_raw, json_t **out, json_t **raw,
                         int *height)
{
    json_t *arr = json_array(), *raws = want_raw >= 2 ? json_array() : NULL;
    yaml_event_t ev;
    int rc = -1;

    if (!arr || (want_raw >= 2 && !raws)) {
        load_oom(ld);
        goto out;
    }
    for (;;) {
        json_t *item = NULL, *item_raw = NULL;
        int h = 0, r;

        if (load_next(ld, &ev) < 0)
            goto out;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        r = load_node(ld, &ev, depth + 1, want_raw - 1, &item, raws ? &item_raw : NULL, &h);
        yaml_event_delete(&ev);
        if (r < 0)
            goto out;
        if (raws && json_array_append_new(raws, item_raw ? item_raw : json_null()) < 0) {
            json_decref(item);
            load_oom(ld);
            goto out;
        }
        if (json_array_append_new(arr, item) < 0) {
            load_oom(ld);
            goto out;
        }
        if (h + 1 > *height)
            *height = h + 1;
    }
    *out = arr;
    arr = NULL;
    if (raw) {
        *raw = raws;
        raws = NULL;
    }
    rc = 0;
out:
    json_decref(arr);
    json_decref(raws);
    return rc;
}

/* A key as js-yaml makes it: JavaScript's String(value). */
static json_t *key_string(json_t *k)
{
    char tmp[32];

    if (json_is_string(k))
        return json_incref(k);
    if (json_is_null(k))
        return json_string("null");
    if (json_is_boolean(k))
        return json_string(json_is_true(k) ? "true" : "false");
    if (json_is_integer(k)) {
        snprintf(tmp, sizeof tmp, "%" JSON_INTEGER_FORMAT, json_integer_value(k));
        return json_string(tmp);
    }
    for (int prec = 1; prec <= 17; prec++) { /* shortest text that reads back */
        snprintf(tmp, sizeof tmp, "%.*g", prec, json_real_value(k));
        if (strtod(tmp, NULL) == json_real_value(k))
            break;
    }
    return json_string(tmp);
}

/* "<<: *base" copies the keys of a mapping (or a list of mappings) that are not
 * already set; later explicit keys may override them (js-yaml's rule). */
static int load_merge(loader *ld, json_t *obj, json_t *merged, json_t *src, size_t line)
{
    const char *key;
    size_t klen;
    json_t *v;

    if (json_is_array(src)) {
        for (size_t i = 0; i < json_array_size(src); i++) {
            json_t *el = json_array_get(src, i);
            if (!json_is_object(el))
                return load_fail(ld, line, "<< needs a mapping or a list of mappings");
            if (load_merge(ld, obj, merged, el, line) < 0)
                return -1;
        }
        return 0;
    }
    if (!json_is_object(src))
        return load_fail(ld, line, "<< needs a mapping or a list of mappings");
    json_object_keylen_foreach(src, key, klen, v)
    {
        if (json_object_getn(obj, key, klen))
            continue;
        if (json_object_setn(obj, key, klen, v) < 0 ||
            json_object_setn_new(merged, key, klen, json_true()) < 0)
            return load_oom(ld);
    }
    return 0;
}

/* Stores one explicit key: a duplicate is an error (as in js-yaml) unless the
 * earlier value came from a merge. Top-level keys get their line noted. */
static int load_pair(loader *ld, json_t *obj, json_t *merged, json_t *k, json_t *v, json_t *vraw,
                     size_t line, int depth)
{
    const char *key = json_string_value(k);
    size_t klen = json_string_length(k);
    char q[72];
    json_t *m;

    if (json_object_getn(obj, key, klen) && !json_object_getn(merged, key, klen))
        return load_fail(ld, line, "duplicated mapping key %s", quoted(key, q, sizeof q));
    json_object_deln(merged, key, klen);
    if (json_object_setn(obj, key, klen, v) < 0)
        return load_oom(ld);
    if (depth != 1)
        return 0;
    m = json_pack("{s:I}", "line", (json_int_t)(line + (size_t)ld->line0));
    if (!m || (vraw && json_object_set(m, "raw", vraw) < 0) ||
        json_object_setn_new(ld->meta, key, klen, m) < 0)
        return load_oom(ld);
    return 0;
}

static bool is_merge_key(yaml_event_t *ev)
{
    return ev->type == YAML_SCALAR_EVENT && !ev->data.scalar.tag &&
           ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && ev->data.scalar.length == 2 &&
           !memcmp(ev->data.scalar.value, "<<", 2);
}

/* One key and its value; 1 at the end of the mapping. */
static int load_entry(loader *ld, json_t *obj, json_t *merged, int depth, int *height)
{
    yaml_event_t ev;
    json_t *k = NULL, *ks = NULL, *v = NULL, *vraw = NULL;
    size_t line;
    bool merge;
    int rc = -1, h = 0;

    if (load_next(ld, &ev) < 0)
        return -1;
    line = ev.start_mark.line;
    merge = is_merge_key(&ev);
    if (ev.type == YAML_MAPPING_END_EVENT)
        rc = 1;
    else if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT)
        load_fail(ld, line, "mapping keys must be scalars");
    else if (load_node(ld, &ev, depth + 1, 0, &k, NULL, &h) == 0 &&
             (json_is_object(k) || json_is_array(k)))
        load_fail(ld, line, "mapping keys must be scalars");
    else if (k)
        rc = 0;
    yaml_event_delete(&ev);
    if (rc != 0)
        goto out;
    rc = -1;
    if (!(ks = key_string(k))) {
        load_oom(ld);
        goto out;
    }
    if (load_next(ld, &ev) < 0)
        goto out;
    h = 0;
    rc = load_node(ld, &ev, depth + 1, depth == 1 ? 2 : 0, &v, &vraw, &h);
    yaml_event_delete(&ev);
    if (rc == 0)
        rc = merge ? load_merge(ld, obj, merged, v, line)
                   : load_pair(ld, obj, merged, ks, v, vraw, line, depth);
    if (h + 1 > *height)
        *height = h + 1;
out:
    json_decref(k);
    json_decref(ks);
    json_decref(v);
    json_decref(vraw);
    return rc;
}

static int load_mapping(loader *ld, int depth, json_t **out, int *height)
{
    json_t *obj = json_object(), *merged = json_object();
    int rc = -1, r;

    *height = 1;
    if (!obj || !merged) {
        load_oom(ld);
        goto out;
    }
    while ((r = load_entry(ld, obj, merged, depth, height)) == 0)
        ;
    if (r == 1) {
        *out = obj;
        obj = NULL;
        rc = 0;
    }
out:
    json_decref(obj);
    json_decref(merged);
    return rc;
}

/* Collections may carry no tag or their own; anything else is unsupported. */
static int load_collection_tag(loader *ld, yaml_event_t *ev, const char *tag, const char *want)
{
    char q[72];

    if (!tag || !strcmp(tag, "!") ||
        (!strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) && !strcmp(tag + strlen(TAG_PREFIX), want)))
        return 0;
    return load_fail(ld, ev->start_mark.line, "unsupported tag %s", quoted(tag, q, sizeof q));
}

static int load_anchor(loader *ld, const char *anchor, json_t *v, size_t weight, int height)
{
    json_t *a;

    if (!anchor)
        return 0;
    a = json_pack("[O, I, i]", v, (json_int_t)weight, height);
    if (!a || json_object_set_new(ld->anchors, anchor, a) < 0)
        return load_oom(ld);
    return 0;
}

/* Loads the node that ev starts, at nesting depth (the root mapping is 1).
 * want_raw asks for scalars as written: 1 for this node, 2 also for the items
 * of a sequence. *height is its nesting, 0 for a scalar. */
static int load_node(loader *ld, yaml_event_t *ev, int depth, int want_raw, json_t **out,
                     json_t **raw, int *height)
{
    size_t before = ld->weight, line = ev->start_mark.line;
    const char *anchor = NULL;
    int rc = -1;

    *out = NULL;
    *height = 0;
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        return load_alias(ld, ev, depth, out, height);
    case YAML_SCALAR_EVENT:
        anchor = (const char *)ev->data.scalar.anchor;
        rc = load_scalar(ld, ev, out, want_raw > 0 ? raw : NULL);
        break;
    case YAML_SEQUENCE_START_EVENT:
        anchor = (const char *)ev->data.sequence_start.anchor;
        if (depth > CONFIG_MAX_DEPTH)
            return load_fail(ld, line, "nesting deeper than %d levels", CONFIG_MAX_DEPTH);
        if (load_collection_tag(ld, ev, (const char *)ev->data.sequence_start.tag, "seq") < 0 ||
            load_weigh(ld, 1, line) < 0)
            return -1;
        rc = load_sequence(ld, depth, want_raw, out, raw, height);
        break;
    case YAML_MAPPING_START_EVENT:
        anchor = (const char *)ev->data.mapping_start.anchor;
        if (depth > CONFIG_MAX_DEPTH)
            return load_fail(ld, line, "nesting deeper than %d levels", CONFIG_MAX_DEPTH);
        if (load_collection_tag(ld, ev, (const char *)ev->data.mapping_start.tag, "map") < 0 ||
            load_weigh(ld, 1, line) < 0)
            return -1;
        rc = load_mapping(ld, depth, out, height);
        break;
    default:
        return load_fail(ld, line, "unexpected event");
    }
    if (rc == 0 && load_anchor(ld, anchor, *out, ld->weight - before, *height) < 0)
        rc = -1;
    if (rc < 0) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

/* The stream holds at most one document; an empty one or a null is {}. A
 * failed yaml_parser_parse leaves a zeroed event, which is safe to delete. */
static int load_document(loader *ld, json_t **root)
{
    yaml_event_t ev;
    int h = 0, rc;

    *root = NULL;
    rc = load_next(ld, &ev); /* STREAM-START */
    yaml_event_delete(&ev);
    if (rc == 0)
        rc = load_next(ld, &ev); /* DOCUMENT-START, or STREAM-END when empty */
    if (rc == 0 && ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        return (*root = json_object()) ? 0 : load_oom(ld);
    }
    yaml_event_delete(&ev);
    if (rc == 0 && (rc = load_next(ld, &ev)) == 0)
        rc = load_node(ld, &ev, 1, 0, root, NULL, &h);
    yaml_event_delete(&ev);
    if (rc == 0 && (rc = load_next(ld, &ev)) == 0) { /* DOCUMENT-END */
        yaml_event_delete(&ev);
        rc = load_next(ld, &ev);
        if (rc == 0 && ev.type != YAML_STREAM_END_EVENT)
            rc = load_fail(ld, ev.start_mark.line, "expected a single document");
        yaml_event_delete(&ev);
    }
    if (rc == 0 && json_is_null(*root)) {
        json_decref(*root);
        if (!(*root = json_object()))
            rc = load_oom(ld);
    }
    if (rc < 0) {
        json_decref(*root);
        *root = NULL;
    }
    return rc;
}

/* Reads the front matter of a README: 1 with *card (an object) and *meta set,
 * 0 when there is none, -1 with a message in err. */
static int card_load(const char *text, size_t len, json_t **card, json_t **meta, char *err,
                     size_t errsize)
{
    loader ld = {.line0 = 2, .err = err, .errsize = errsize};
    const char *body;
    size_t blen;
    int rc = -1;

    *card = *meta = NULL;
    if (errsize)
        err[0] = '\0';
    if (!front_matter(text, len, &body, &blen))
        return 0;
    if (blen > CONFIG_MAX_BYTES) {
        snprintf(err, errsize, "front matter is larger than %d bytes", CONFIG_MAX_BYTES);
        return -1;
    }
    ld.body = body;
    ld.len = blen;
    if (!yaml_parser_initialize(&ld.parser))
        return load_oom(&ld);
    yaml_parser_set_input_string(&ld.parser, (const unsigned char *)body, blen);
    yaml_parser_set_encoding(&ld.parser, YAML_UTF8_ENCODING);
    ld.anchors = json_object();
    ld.meta = json_object();
    if (!ld.anchors || !ld.meta)
        load_oom(&ld);
    else if (load_document(&ld, card) == 0 && !json_is_object(*card))
        snprintf(err, errsize, "front matter must be a YAML mapping (line 2)");
    else if (*card)
        rc = 1;
    if (rc == 1) {
        *meta = ld.meta;
        ld.meta = NULL;
    } else {
        json_decref(*card);
        *card = NULL;
    }
    json_decref(ld.anchors);
    json_decref(ld.meta);
    yaml_parser_delete(&ld.parser);
    return rc;
}

/* ---- checks of known keys ----------------------------------------------- */

typedef struct checker {
    config *c;
    json_t *meta;
    json_t *errors;
    json_t *warnings;
    bool oom;
} checker;

static const char *const colors[] = {"red",    "yellow", "green", "blue", "indigo",
                                     "purple", "pink",   "gray",  NULL};
static const char *const sdks[] = {"gradio", "streamlit", "docker", "static", NULL};
/* The documented suggested_hardware values plus every flavor HF's clients know. */
static const char *const hardware[] = {
    "cpu-basic",  "cpu-upgrade", "cpu-performance", "cpu-xl",
    "zero-a10g",  "t4-small",    "t4-medium",       "l4x1",
    "l4x4",       "l40sx1",      "l40sx4",          "l40sx8",
    "a10g-small", "a10g-large",  "a10g-largex2",    "a10g-largex4",
    "a100-large", "a100x4",      "a100x8",          "sprx8",
    "inf2x6",     NULL};
static const char *const header_names[] = {"cross-origin-embedder-policy",
                                           "cross-origin-opener-policy",
                                           "cross-origin-resource-policy", NULL};

static bool in_list(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (!strcmp(*list, s))
            return true;
    return false;
}

/* Messages are made ASCII: they may quote a user's text cut mid-character. */
static void ck_add(checker *ck, json_t *list, const char *msg)
{
    char safe[512];
    json_t *e = json_pack("{s:s}", "message", quoted(msg, safe, sizeof safe));

    if (!e || json_array_append_new(list, e) < 0)
        ck->oom = true;
}

static void ck_error(checker *ck, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "key: problem (line N)", the line being the key's in the README. */
static void ck_error(checker *ck, const char *key, const char *fmt, ...)
{
    char msg[384], full[512];
    json_t *line = json_object_get(json_object_get(ck->meta, key), "line");
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (line)
        snprintf(full, sizeof full, "%s: %s (line %" JSON_INTEGER_FORMAT ")", key, msg,
                 json_integer_value(line));
    else
        snprintf(full, sizeof full, "%s: %s", key, msg);
    ck_add(ck, ck->errors, full);
}

/* The text of a scalar: a string as it is, a number or boolean as written in
 * the YAML (python_version: 3.10 means "3.10", not 3.1). NULL for anything else. */
static const char *scalar_text(json_t *v, json_t *raw, size_t *n)
{
    if (json_is_string(v)) {
        *n = json_string_length(v);
        return json_string_value(v);
    }
    if ((json_is_number(v) || json_is_boolean(v)) && json_is_string(raw)) {
        *n = json_string_length(raw);
        return json_string_value(raw);
    }
    if (json_is_boolean(v)) {
        *n = json_is_true(v) ? 4 : 5;
        return json_is_true(v) ? "true" : "false";
    }
    return NULL;
}

static json_t *meta_raw(checker *ck, const char *key)
{
    return json_object_get(json_object_get(ck->meta, key), "raw");
}

/* Value checks: NULL when s is fine, else the problem. */
typedef const char *check_fn(const char *s);

static const char *check_color(const char *s)
{
    return in_list(colors, s)
               ? NULL
               : "must be one of red, yellow, green, blue, indigo, purple, pink, gray";
}

static const char *check_sdk(const char *s)
{
    return in_list(sdks, s) ? NULL : "must be one of gradio, streamlit, docker, static";
}

static const char *check_hardware(const char *s)
{
    return in_list(hardware, s) ? NULL
                                : "must be a hardware flavor such as cpu-basic, cpu-upgrade, "
                                  "t4-small, l4x1, a10g-small or a100-large";
}

/* It becomes "gradio==<version>" for pip: a version, never an option. */
static const char *check_sdk_version(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 64 || !is_digit(s[0]) ||
        strspn(s, "0123456789abcdefghijklmnopqrstuvwxyz"
                  "ABCDEFGHIJKLMNOPQRSTUVWXYZ.+!_-") != n)
        return "must be a version number such as 4.44.1";
    return NULL;
}

static const char *check_python(const char *s)
{
    const char *p = s + 2;
    size_t d;

    if (strncmp(s, "3.", 2) != 0 || (d = strspn(p, "0123456789")) == 0 || d > 3)
        return "must be 3.x or 3.x.y, such as 3.10 or 3.10.4";
    p += d;
    if (*p == '.' && (d = strspn(p + 1, "0123456789")) > 0 && d <= 3)
        p += 1 + d;
    return *p ? "must be 3.x or 3.x.y, such as 3.10 or 3.10.4" : NULL;
}

static bool has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

/* The builder opens it inside the checkout: it must stay there. */
static const char *check_app_file(const char *s)
{
    const char *bad = "must be a relative path inside the repository "
                      "(no leading /, no empty or .. component, no .git)";
    const char *p = s;

    if (!*s || *s == '/' || strlen(s) > 1024 || has_control(s) || strchr(s, '\\'))
        return bad;
    while (*p) {
        size_t n = strcspn(p, "/");
        if (n == 0 || (n == 2 && !memcmp(p, "..", 2)) || (n == 4 && !strncasecmp(p, ".git", 4)))
            return bad;
        p += n;
        if (*p == '/' && !*++p)
            return bad; /* a trailing slash names a folder */
    }
    return NULL;
}

static const char *check_base_path(const char *s)
{
    if (s[0] != '/')
        return "must start with /";
    if (strlen(s) > 1024 || has_control(s) || strchr(s, ' '))
        return "must be a URL path without spaces or control characters";
    return NULL;
}

/* HF's limit is 60 JavaScript characters: UTF-16 units, so an emoji counts 2. */
static const char *check_short_description(const char *s)
{
    size_t units = 0;

    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xC0) != 0x80)
            units += *p >= 0xF0 ? 2 : 1;
    return units > CONFIG_SHORT_DESCRIPTION_MAX ? "must be at most 60 characters" : NULL;
}

/* "repo_id", "repo_id file1,file2" or "repo_id file1,file2 commit_sha". */
static const char *check_preload(const char *s)
{
    const char *bad = "items must be \"repo_id\", \"repo_id files\" or \"repo_id files sha\"";
    size_t fields = 0;

    if (has_control(s))
        return bad;
    for (const char *p = s; *p; fields++) {
        size_t n = strcspn(p, " ");
        if (n == 0)
            return bad;
        p += n;
        p += *p == ' ';
    }
    return fields >= 1 && fields <= 3 ? NULL : bad;
}

struct field;
typedef void field_fn(checker *ck, const struct field *f, json_t *v);

/* A known key: its handler, where it goes in struct config, its value check. */
struct field {
    const char *key;
    field_fn *fn;
    size_t off;
    check_fn *check;
};

/* Takes a scalar's text and checks it: NULL (with an error noted) if unfit. */
static const char *ck_text(checker *ck, const struct field *f, json_t *v, json_t *raw,
                           const char *what)
{
    size_t n;
    const char *s = scalar_text(v, raw, &n), *problem;

    if (!s) {
        ck_error(ck, f->key, "must be %s", what);
        return NULL;
    }
    if (strlen(s) != n) {
        ck_error(ck, f->key, "must not contain NUL characters");
        return NULL;
    }
    if (f->check && (problem = f->check(s))) {
        ck_error(ck, f->key, "%s", problem);
        return NULL;
    }
    return s;
}

static void ck_string(checker *ck, const struct field *f, json_t *v)
{
    const char *s = ck_text(ck, f, v, meta_raw(ck, f->key), "a string");
    char **dst = (char **)((char *)ck->c + f->off);

    if (s && !(*dst = strdup(s)))
        ck->oom = true;
}

/* A list of strings; a single string is taken as a list of one (license is
 * documented so, and a lone tag is a common slip that HF's cards tolerate). */
static void ck_list(checker *ck, const struct field *f, json_t *v)
{
    config_list *dst = (config_list *)((char *)ck->c + f->off);
    json_t *raw = meta_raw(ck, f->key);
    bool one = !json_is_array(v);
    size_t count = one ? 1 : json_array_size(v);

    if (count == 0)
        return;
    if (!(dst->items = calloc(count, sizeof *dst->items))) {
        ck->oom = true;
        return;
    }
    for (size_t i = 0; i < count; i++) {
        json_t *item = one ? v : json_array_get(v, i);
        const char *s =
            ck_text(ck, f, item, one ? raw : json_array_get(raw, i), "a list of strings");
        if (!s)
            return;
        if (!(dst->items[dst->n] = strdup(s))) {
            ck->oom = true;
            return;
        }
        dst->n++;
    }
}

static void ck_bool(checker *ck, const struct field *f, json_t *v)
{
    if (!json_is_boolean(v))
        ck_error(ck, f->key, "must be true or false");
    else
        *(bool *)((char *)ck->c + f->off) = json_is_true(v);
}

static void ck_app_port(checker *ck, const struct field *f, json_t *v)
{
    json_int_t port = json_integer_value(v);

    if (!json_is_integer(v) || port < 1 || port > 65535)
        ck_error(ck, f->key, "must be an integer from 1 to 65535");
    else
        ck->c->app_port = (int)port;
}

static void ck_startup(checker *ck, const struct field *f, json_t *v)
{
    size_t n;
    const char *s = scalar_text(v, meta_raw(ck, f->key), &n);
    int secs = s && strlen(s) == n ? config_parse_duration(s) : -1;

    if (secs < 0)
        ck_error(ck, f->key, "must be a duration such as 30m, 1h, 90s or 1h30m (at most 24h)");
    else
        ck->c->startup_duration_timeout = secs;
}

/* Header values go into every response of the space: lower-case visible ASCII
 * only, so nothing can split a header line. */
static bool header_value_ok(const char *s, size_t n)
{
    if (n == 0 || n > 256 || strlen(s) != n)
        return false;
    for (; *s; s++)
        if (*s < 0x20 || *s > 0x7e || (*s >= 'A' && *s <= 'Z'))
            return false;
    return true;
}

static void ck_headers(checker *ck, const struct field *f, json_t *v)
{
    const char *key = f->key, *name;
    config *c = ck->c;
    size_t nlen;
    json_t *hv;
    char q[48];

    if (!json_is_object(v)) {
        ck_error(ck, key, "must be a mapping of header names to values");
        return;
    }
    if (!(c->custom_headers = calloc(json_object_size(v) + 1, sizeof *c->custom_headers))) {
        ck->oom = true;
        return;
    }
    json_object_keylen_foreach(v, name, nlen, hv)
    {
        config_header *h = &c->custom_headers[c->n_custom_headers];
        if (strlen(name) != nlen || !in_list(header_names, name)) {
            ck_error(ck, key,
                     "%s is not allowed; only cross-origin-embedder-policy, "
                     "cross-origin-opener-policy and cross-origin-resource-policy (lower-case)",
                     quoted(name, q, sizeof q));
            return;
        }
        if (!json_is_string(hv) ||
            !header_value_ok(json_string_value(hv), json_string_length(hv))) {
            ck_error(ck, key, "the value of %s must be a lower-case string", name);
            return;
        }
        c->n_custom_headers++; /* counted first: config_free frees what was made */
        if (!(h->name = strdup(name)) || !(h->value = strdup(json_string_value(hv)))) {
            ck->oom = true;
            return;
        }
    }
}

static void ck_storage(checker *ck, const struct field *f, json_t *v)
{
    char msg[128];

    (void)v;
    snprintf(msg, sizeof msg, "%s: ignored, persistent storage is no longer available", f->key);
    ck_add(ck, ck->warnings, msg);
}

/* clang-format off */
#define STR(k, m, check) {k, ck_string, offsetof(config, m), check}
#define LIST(k, m, check) {k, ck_list, offsetof(config, m), check}
#define BOOL(k, m) {k, ck_bool, offsetof(config, m), NULL}
/* clang-format on */

static const struct field fields[] = {
    STR("title", title, NULL),
    STR("emoji", emoji, NULL),
    STR("colorFrom", color_from, check_color),
    STR("colorTo", color_to, check_color),
    STR("sdk", sdk, check_sdk),
    STR("sdk_version", sdk_version, check_sdk_version),
    STR("python_version", python_version, check_python),
    STR("app_file", app_file, check_app_file),
    STR("base_path", base_path, check_base_path),
    STR("short_description", short_description, check_short_description),
    STR("suggested_hardware", suggested_hardware, check_hardware),
    BOOL("disable_embedding", disable_embedding),
    BOOL("pinned", pinned),
    LIST("models", models, NULL),
    LIST("datasets", datasets, NULL),
    LIST("tags", tags, NULL),
    LIST("license", license, NULL),
    LIST("preload_from_hub", preload_from_hub, check_preload),
    {"app_port", ck_app_port, 0, NULL},
    {"startup_duration_timeout", ck_startup, 0, NULL},
    {"custom_headers", ck_headers, 0, NULL},
    {"suggested_storage", ck_storage, 0, NULL},
};

/* Checks keys in README order, so the first error is the first in the file. */
static void ck_fields(checker *ck)
{
    const char *key;
    size_t klen;
    json_t *v;

    json_object_keylen_foreach(ck->c->card, key, klen, v)
    {
        if (json_is_null(v))
            continue; /* "key:" with no value is as good as absent */
        for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
            if (strlen(fields[i].key) == klen && !memcmp(fields[i].key, key, klen))
                fields[i].fn(ck, &fields[i], v);
    }
}

/* HF's defaults: the space's sdk when the card names none, and the app file
 * each sdk looks for (docker has none: its Dockerfile says what runs). */
static void ck_defaults(checker *ck, const char *repo_sdk)
{
    config *c = ck->c;
    const char *file = NULL;

    if (!c->sdk && repo_sdk && !(c->sdk = strdup(repo_sdk)))
        ck->oom = true;
    if (c->sdk && (!strcmp(c->sdk, "gradio") || !strcmp(c->sdk, "streamlit")))
        file = "app.py";
    else if (c->sdk && !strcmp(c->sdk, "static"))
        file = "index.html";
    if (!c->app_file && file && !(c->app_file = strdup(file)))
        ck->oom = true;
}

/* Fills *c from a README, appending problems to errors and warnings. Returns
 * -1 only when memory runs out. */
static int config_run(const char *text, size_t len, const char *repo_sdk, config *c, json_t *errors,
                      json_t *warnings)
{
    checker ck = {.c = c, .errors = errors, .warnings = warnings};
    char err[512];
    int r;

    memset(c, 0, sizeof *c);
    c->app_port = CONFIG_APP_PORT_DEFAULT;
    c->startup_duration_timeout = CONFIG_STARTUP_TIMEOUT_DEFAULT;
    r = card_load(text, len, &c->card, &ck.meta, err, sizeof err);
    if (r < 0)
        ck_add(&ck, errors, err);
    else if (r == 1)
        ck_fields(&ck);
    if (!json_array_size(errors))
        ck_defaults(&ck, repo_sdk);
    json_decref(ck.meta);
    return ck.oom ? -1 : 0;
}

/* ---- API ---------------------------------------------------------------- */

json_t *config_card_data(const char *readme, size_t len)
{
    json_t *card = NULL, *meta = NULL;
    char err[256];

    card_load(readme, len, &card, &meta, err, sizeof err);
    json_decref(meta);
    return card;
}

int config_parse(const char *readme, size_t len, const char *repo_sdk, config *out, char *err,
                 size_t errsize)
{
    json_t *errors = json_array(), *warnings = json_array();
    int rc = -1;

    memset(out, 0, sizeof *out);
    if (!errors || !warnings || config_run(readme, len, repo_sdk, out, errors, warnings) < 0)
        snprintf(err, errsize, "out of memory reading the config");
    else if (json_array_size(errors))
        snprintf(err, errsize, "%s",
                 json_string_value(json_object_get(json_array_get(errors, 0), "message")));
    else
        rc = 0;
    if (rc < 0)
        config_free(out);
    json_decref(errors);
    json_decref(warnings);
    return rc;
}

static void list_free(config_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
}

void config_free(config *c)
{
    if (!c)
        return;

    char **strings[] = {&c->title,
                        &c->emoji,
                        &c->color_from,
                        &c->color_to,
                        &c->sdk,
                        &c->sdk_version,
                        &c->python_version,
                        &c->app_file,
                        &c->base_path,
                        &c->short_description,
                        &c->suggested_hardware};

    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
        free(*strings[i]);
    for (size_t i = 0; i < c->n_custom_headers; i++) {
        free(c->custom_headers[i].name);
        free(c->custom_headers[i].value);
    }
    free(c->custom_headers);
    list_free(&c->models);
    list_free(&c->datasets);
    list_free(&c->tags);
    list_free(&c->license);
    list_free(&c->preload_from_hub);
    json_decref(c->card);
    memset(c, 0, sizeof *c);
}

int config_validate_yaml(const char *text, size_t len, json_t **errors, json_t **warnings)
{
    json_t *e = json_array(), *w = json_array();
    config c;
    int rc = -1;

    memset(&c, 0, sizeof c);
    if (e && w && config_run(text, len, NULL, &c, e, w) == 0) {
        rc = (int)json_array_size(e);
        *errors = e;
        *warnings = w;
        e = w = NULL;
    }
    config_free(&c);
    json_decref(e);
    json_decref(w);
    return rc;
}

int config_parse_duration(const char *s)
{
    static const struct {
        char unit;
        int secs;
    } units[] = {{'h', 3600}, {'m', 60}, {'s', 1}};
    size_t u = 0;
    long total = 0;

    if (!s || !*s)
        return -1;
    while (*s) {
        long v = 0;
        if (!is_digit(*s))
            return -1;
        for (; is_digit(*s); s++)
            if ((v = v * 10 + (*s - '0')) > CONFIG_STARTUP_TIMEOUT_MAX)
                return -1;
        while (u < 3 && units[u].unit != *s)
            u++;
        if (u == 3)
            return -1; /* no unit, an unknown one, or out of order */
        total += v * units[u++].secs;
        s++;
        if (total > CONFIG_STARTUP_TIMEOUT_MAX)
            return -1;
    }
    return total >= 1 ? (int)total : -1;
}
