#include "cli/upload.h"

#include <dirent.h>
#include <errno.h>
#include <git2.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/ignore.h"
#include "cli/output.h"
#include "lib/buf.h"
#include "lib/util.h"

/* HF's clients ask preupload about 256 files at a time. */
#define UPLOAD_BATCH 256
/* The preupload sample: the first 512 bytes of a file. */
#define UPLOAD_SAMPLE 512
/* Bytes read from disk at a time: a multiple of 3, so the base64 of the
 * pieces joins into the base64 of the whole. */
#define UPLOAD_CHUNK (3 * 16384)
#define UPLOAD_PATH_MAX 4096
#define UPLOAD_BAR_WIDTH 28
#define UPLOAD_DRAW_MS 100

typedef struct upload_file {
    char *path;                  /* relative to the folder, '/'-separated */
    uint64_t size;               /* when the folder was walked */
    char oid[GIT_OID_HEXSZ + 1]; /* git blob sha1 of the local content */
    bool send;                   /* changed: goes into the commit */
    char *prefix;                /* its NDJSON line up to the content */
} upload_file;

typedef struct upload_set {
    const char *root;
    upload_file *files; /* sorted by path */
    size_t count, cap;
    size_t ignored; /* paths .gitignore excluded */
    size_t to_send; /* files going into the commit */
    uint64_t bytes; /* their size */
} upload_set;

/* ---- the folder ---------------------------------------------------------------- */

static void set_free(upload_set *set)
{
    for (size_t i = 0; i < set->count; i++) {
        free(set->files[i].path);
        free(set->files[i].prefix);
    }
    free(set->files);
}

static int set_add(upload_set *set, const char *rel, uint64_t size)
{
    if (set->count == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 64;
        upload_file *grown = realloc(set->files, cap * sizeof *grown);
        if (!grown)
            return -1;
        set->files = grown;
        set->cap = cap;
    }
    upload_file *f = &set->files[set->count];
    memset(f, 0, sizeof *f);
    if (!(f->path = strdup(rel)))
        return -1;
    f->size = size;
    set->count++;
    return 0;
}

/* Names the commit can carry: JSON needs UTF-8, the server refuses '\\'. */
static bool name_uploadable(const char *rel)
{
    json_t *s = json_string(rel);
    json_decref(s);
    return s != NULL && !strchr(rel, '\\');
}

static int walk(upload_set *set, cli_ignore *ig, const char *rel);

/* One directory entry: a folder to walk, a file to add, or something skipped. */
static int walk_entry(upload_set *set, cli_ignore *ig, const char *rel)
{
    char full[UPLOAD_PATH_MAX];
    struct stat st;
    snprintf(full, sizeof full, "%s/%s", set->root, rel);
    if (lstat(full, &st) < 0)
        return 0; /* gone since readdir */
    bool is_link = S_ISLNK(st.st_mode);
    /* Linked files are uploaded as their content; linked folders are not
     * followed, as they may loop. */
    if (is_link && stat(full, &st) < 0)
        return 0;
    bool is_dir = S_ISDIR(st.st_mode);
    if (cli_ignore_match(ig, rel, is_dir)) {
        set->ignored++;
        return 0;
    }
    if (is_dir)
        return is_link ? 0 : walk(set, ig, rel);
    if (!S_ISREG(st.st_mode))
        return 0;
    if (!name_uploadable(rel)) {
        fprintf(stderr, "hangar: skipping %s: its name is not UTF-8 or has a '\\'\n", rel);
        return 0;
    }
    return set_add(set, rel, (uint64_t)st.st_size);
}

static int walk(upload_set *set, cli_ignore *ig, const char *rel)
{
    char dir[UPLOAD_PATH_MAX], child[UPLOAD_PATH_MAX];
    size_t mark = ig->count;
    if (cli_ignore_load(ig, set->root, rel) < 0)
        fprintf(stderr, "hangar: cannot read %s/%s/.gitignore; not applying it\n", set->root, rel);
    snprintf(dir, sizeof dir, "%s%s%s", set->root, *rel ? "/" : "", rel);
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "hangar: cannot read folder %s: %s\n", dir, strerror(errno));
        cli_ignore_truncate(ig, mark);
        return -1;
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        /* The repository's own git folder is never content. */
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, ".git"))
            continue;
        int n = snprintf(child, sizeof child, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
        if (n < 0 || (size_t)n >= sizeof child - strlen(set->root) - 2) {
            fprintf(stderr, "hangar: skipping %s/%s: path too long\n", dir, e->d_name);
            continue;
        }
        rc = walk_entry(set, ig, child);
    }
    closedir(d);
    cli_ignore_truncate(ig, mark);
    return rc;
}

static int by_path(const void *a, const void *b)
{
    return strcmp(((const upload_file *)a)->path, ((const upload_file *)b)->path);
}

static int collect(upload_set *set)
{
    cli_ignore ig;
    cli_ignore_init(&ig);
    int rc = walk(set, &ig, "");
    cli_ignore_free(&ig);
    if (rc == 0 && set->count > 0)
        qsort(set->files, set->count, sizeof *set->files, by_path);
    return rc;
}

/* ---- what changed ---------------------------------------------------------------- */

static int hash_files(upload_set *set)
{
    char full[UPLOAD_PATH_MAX];
    for (size_t i = 0; i < set->count; i++) {
        git_oid oid;
        snprintf(full, sizeof full, "%s/%s", set->root, set->files[i].path);
        if (git_odb_hashfile(&oid, full, GIT_OBJECT_BLOB) < 0) {
            fprintf(stderr, "hangar: cannot read %s: %s\n", full, git_error_last()->message);
            return -1;
        }
        git_oid_tostr(set->files[i].oid, sizeof set->files[i].oid, &oid);
        set->files[i].send = true;
    }
    return 0;
}

static json_t *sample_of(const upload_set *set, const upload_file *f)
{
    char full[UPLOAD_PATH_MAX];
    unsigned char head[UPLOAD_SAMPLE];
    char b64[sodium_base64_ENCODED_LEN(UPLOAD_SAMPLE, sodium_base64_VARIANT_ORIGINAL)];
    snprintf(full, sizeof full, "%s/%s", set->root, f->path);
    FILE *in = fopen(full, "rb");
    size_t n = in ? fread(head, 1, sizeof head, in) : 0;
    if (in)
        fclose(in);
    sodium_bin2base64(b64, sizeof b64, head, n, sodium_base64_VARIANT_ORIGINAL);
    return json_string(b64);
}

static json_t *preupload_body(const upload_set *set, size_t from, size_t to)
{
    json_t *files = json_array();
    for (size_t i = from; i < to; i++) {
        const upload_file *f = &set->files[i];
        json_array_append_new(files, json_pack("{s:s, s:I, s:o}", "path", f->path, "size",
                                               (json_int_t)f->size, "sample", sample_of(set, f)));
    }
    return json_pack("{s:o}", "files", files);
}

/* The server's answer: files it already has (same oid) or ignores stay home. */
static void apply_preupload(upload_set *set, json_t *answer)
{
    size_t i;
    json_t *entry;
    json_array_foreach(json_object_get(answer, "files"), i, entry)
    {
        upload_file key = {.path = (char *)cli_json_str(entry, "path")};
        upload_file *f =
            key.path ? bsearch(&key, set->files, set->count, sizeof *set->files, by_path) : NULL;
        const char *oid = cli_json_str(entry, "oid");
        if (!f)
            continue;
        if (json_is_true(json_object_get(entry, "shouldIgnore")) || (oid && !strcmp(oid, f->oid)))
            f->send = false;
    }
}

static int preupload(cli_client *c, const char *id, upload_set *set)
{
    char path[CLI_SPACE_ID_MAX + 64];
    snprintf(path, sizeof path, "/api/spaces/%s/preupload/main", id);
    for (size_t from = 0; from < set->count; from += UPLOAD_BATCH) {
        size_t to = from + UPLOAD_BATCH < set->count ? from + UPLOAD_BATCH : set->count;
        json_t *body = preupload_body(set, from, to), *answer = NULL;
        int rc = cli_call(c, "POST", path, body, id, &answer);
        json_decref(body);
        if (rc != CLI_OK)
            return rc;
        apply_preupload(set, answer);
        json_decref(answer);
    }
    for (size_t i = 0; i < set->count; i++)
        if (set->files[i].send) {
            set->to_send++;
            set->bytes += set->files[i].size;
        }
    return CLI_OK;
}

/* ---- the commit, streamed ---------------------------------------------------------- */

typedef struct commit_stream {
    upload_set *set;
    buf pending; /* bytes ready for curl */
    size_t off;  /* of pending, already handed over */
    size_t next; /* the next file to open */
    FILE *cur;   /* the file being sent */
    const upload_file *cur_file;
    uint64_t left; /* of its bytes, still to read */
    uint64_t done; /* file bytes read so far, for the progress */
    uint64_t started_ms, drawn_ms;
    bool tty;
    char error[UPLOAD_PATH_MAX + 64];
    unsigned char chunk[UPLOAD_CHUNK];
} commit_stream;

static const char FILE_SUFFIX[] = "\"}}\n";

static char *file_prefix(const char *path)
{
    json_t *s = json_string(path);
    char *quoted = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
    json_decref(s);
    buf line;
    buf_init(&line);
    if (quoted)
        buf_printf(&line,
                   "{\"key\":\"file\",\"value\":{\"path\":%s,\"encoding\":\"base64\","
                   "\"content\":\"",
                   quoted);
    free(quoted);
    return buf_detach(&line);
}

/* The length of the whole body, known before it is made, so that it can
 * stream with a Content-Length. */
static int commit_length(upload_set *set, const char *header, uint64_t *total)
{
    *total = strlen(header);
    for (size_t i = 0; i < set->count; i++) {
        upload_file *f = &set->files[i];
        if (!f->send)
            continue;
        if (!(f->prefix = file_prefix(f->path)))
            return -1;
        *total += strlen(f->prefix) + 4 * ((f->size + 2) / 3) + strlen(FILE_SUFFIX);
    }
    return 0;
}

static void stream_fail(commit_stream *s, const char *what)
{
    snprintf(s->error, sizeof s->error, "%s %s while uploading; run hangar upload again",
             s->cur_file->path, what);
}

/* The next piece of the current file, base64; its line ends after the last. */
static int stream_chunk(commit_stream *s)
{
    size_t want = s->left < UPLOAD_CHUNK ? (size_t)s->left : UPLOAD_CHUNK;
    size_t got = want ? fread(s->chunk, 1, want, s->cur) : 0;
    if (got < want) {
        stream_fail(s, ferror(s->cur) ? "could not be read" : "shrank");
        return -1;
    }
    size_t enc = sodium_base64_ENCODED_LEN(got, sodium_base64_VARIANT_ORIGINAL);
    if (buf_reserve(&s->pending, enc) < 0)
        return -1;
    sodium_bin2base64(s->pending.data + s->pending.len, enc, s->chunk, got,
                      sodium_base64_VARIANT_ORIGINAL);
    s->pending.len += enc - 1;
    s->left -= got;
    s->done += got;
    if (s->left > 0)
        return 1;
    bool grew = fgetc(s->cur) != EOF;
    fclose(s->cur);
    s->cur = NULL;
    if (grew) {
        stream_fail(s, "grew");
        return -1;
    }
    return buf_puts(&s->pending, FILE_SUFFIX) < 0 ? -1 : 1;
}

static int stream_open_next(commit_stream *s)
{
    char full[UPLOAD_PATH_MAX], size[32];
    while (s->next < s->set->count && !s->set->files[s->next].send)
        s->next++;
    if (s->next == s->set->count)
        return 0;
    s->cur_file = &s->set->files[s->next++];
    snprintf(full, sizeof full, "%s/%s", s->set->root, s->cur_file->path);
    if (!(s->cur = fopen(full, "rb"))) {
        stream_fail(s, "could not be opened");
        return -1;
    }
    s->left = s->cur_file->size;
    if (!s->tty) {
        cli_format_bytes(s->cur_file->size, size, sizeof size);
        fprintf(stderr, "  %s (%s)\n", s->cur_file->path, size);
    }
    return buf_puts(&s->pending, s->cur_file->prefix) < 0 ? -1 : stream_chunk(s);
}

static size_t stream_read(char *out, size_t size, size_t nitems, void *arg)
{
    commit_stream *s = arg;
    if (s->off == s->pending.len) {
        buf_reset(&s->pending);
        s->off = 0;
        int got = s->cur ? stream_chunk(s) : stream_open_next(s);
        if (got < 0 && !s->error[0])
            snprintf(s->error, sizeof s->error, "out of memory while uploading");
        if (got < 0)
            return CURL_READFUNC_ABORT;
        if (got == 0)
            return 0;
    }
    size_t n = s->pending.len - s->off;
    if (n > size * nitems)
        n = size * nitems;
    memcpy(out, s->pending.data + s->off, n);
    s->off += n;
    return n;
}

static void draw_bar(commit_stream *s, bool final)
{
    uint64_t now = util_mono_ms(), total = s->set->bytes;
    if (!final && now - s->drawn_ms < UPLOAD_DRAW_MS)
        return;
    s->drawn_ms = now;
    double secs = (double)(now - s->started_ms) / 1000.0;
    uint64_t rate = secs > 0.05 ? (uint64_t)((double)s->done / secs) : 0;
    int filled = total ? (int)(UPLOAD_BAR_WIDTH * s->done / total) : UPLOAD_BAR_WIDTH;
    char bar[UPLOAD_BAR_WIDTH + 1], done[32], all[32], speed[32];
    for (int i = 0; i < UPLOAD_BAR_WIDTH; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[UPLOAD_BAR_WIDTH] = '\0';
    cli_format_bytes(s->done, done, sizeof done);
    cli_format_bytes(total, all, sizeof all);
    cli_format_bytes(rate, speed, sizeof speed);
    fprintf(stderr, "\r[%s] %3d%%  %s / %s  %s/s \033[K", bar,
            total ? (int)(100 * s->done / total) : 100, done, all, speed);
    if (final)
        fputc('\n', stderr);
    fflush(stderr);
}

static int stream_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                           curl_off_t ulnow)
{
    commit_stream *s = arg;
    if (s->tty)
        draw_bar(s, false);
    return 0;
}

static json_t *commit_header(const char *message, size_t count)
{
    char summary[256];
    if (!message) {
        snprintf(summary, sizeof summary, "Upload %zu file%s with hangar", count,
                 count == 1 ? "" : "s");
        message = summary;
    }
    return json_pack("{s:s, s:{s:s, s:s}}", "key", "header", "value", "summary", message,
                     "description", "");
}

static void stream_setup(cli_client *c, commit_stream *s, uint64_t total)
{
    cli_add_header(c, "Content-Type: application/x-ndjson");
    cli_add_header(c, "Expect:"); /* send right away, no 100-continue round trip */
    curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, NULL);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)total);
    curl_easy_setopt(c->curl, CURLOPT_READFUNCTION, stream_read);
    curl_easy_setopt(c->curl, CURLOPT_READDATA, s);
    curl_easy_setopt(c->curl, CURLOPT_XFERINFOFUNCTION, stream_progress);
    curl_easy_setopt(c->curl, CURLOPT_XFERINFODATA, s);
    curl_easy_setopt(c->curl, CURLOPT_NOPROGRESS, 0L);
}

static int commit(cli_client *c, const char *id, upload_set *set, const char *message,
                  json_t **answer)
{
    char path[CLI_SPACE_ID_MAX + 64];
    commit_stream s = {.set = set, .tty = isatty(STDERR_FILENO), .started_ms = util_mono_ms()};
    buf_init(&s.pending);
    json_t *header = commit_header(message, set->to_send);
    char *line = json_dumps(header, JSON_COMPACT);
    json_decref(header);
    uint64_t total = 0;
    int rc = CLI_FAIL;
    cli_response res;
    cli_response_init(&res);
    if (!line || buf_printf(&s.pending, "%s\n", line) < 0 ||
        commit_length(set, s.pending.data, &total) < 0) {
        fprintf(stderr, "hangar: out of memory preparing the commit\n");
        goto done;
    }
    snprintf(path, sizeof path, "/api/spaces/%s/commit/main", id);
    cli_prepare(c, "POST", path, NULL, &res);
    stream_setup(c, &s, total);
    int got = cli_perform(c, &res);
    if (s.tty)
        draw_bar(&s, true);
    if (s.error[0])
        fprintf(stderr, "hangar: %s\n", s.error);
    else if (got < 0 || res.status < 200 || res.status > 299)
        rc = cli_report(c, &res, id);
    else if (!(*answer = json_loadb(res.body.data, res.body.len, 0, NULL)))
        fprintf(stderr, "hangar: the server's answer to the commit is not JSON\n");
    else
        rc = CLI_OK;
done:
    if (s.cur)
        fclose(s.cur);
    free(line);
    buf_free(&s.pending);
    cli_response_free(&res);
    return rc;
}

/* ---- the command -------------------------------------------------------------------- */

typedef struct upload_opts {
    const char *message;
    int json;
} upload_opts;

static json_t *paths_where(const upload_set *set, bool send)
{
    json_t *list = json_array();
    for (size_t i = 0; i < set->count; i++)
        if (set->files[i].send == send)
            json_array_append_new(list, json_string(set->files[i].path));
    return list;
}

static void print_result(const upload_set *set, const char *id, json_t *answer, uint64_t ms,
                         const upload_opts *o)
{
    char size[32];
    if (o->json) {
        json_t *out = answer ? json_incref(answer) : json_object();
        json_object_set_new(out, "uploaded", paths_where(set, true));
        json_object_set_new(out, "unchanged", paths_where(set, false));
        json_object_set_new(out, "ignored", json_integer((json_int_t)set->ignored));
        cli_print_json(out, stdout);
        json_decref(out);
        return;
    }
    size_t unchanged = set->count - set->to_send;
    if (!answer) {
        printf("Nothing to upload: the %zu file%s of %s %s already in %s\n", set->count,
               set->count == 1 ? "" : "s", set->root, set->count == 1 ? "is" : "are", id);
        return;
    }
    cli_format_bytes(set->bytes, size, sizeof size);
    printf("Uploaded %zu file%s (%s) to %s in %.1f s; %zu unchanged, %zu ignored\n", set->to_send,
           set->to_send == 1 ? "" : "s", size, id, (double)ms / 1000.0, unchanged, set->ignored);
    const char *sha = cli_json_str(answer, "commitOid");
    printf("commit %s\nnext: hangar status %s --wait\n", sha ? sha : "?", id);
}

static int upload_run(cli_client *c, const char *id, upload_set *set, const upload_opts *o)
{
    uint64_t started = util_mono_ms();
    if (collect(set) < 0 || hash_files(set) < 0)
        return CLI_FAIL;
    if (set->count == 0) {
        fprintf(stderr, "hangar: %s has no files to upload (%zu ignored)\n", set->root,
                set->ignored);
        return CLI_FAIL;
    }
    int rc = preupload(c, id, set);
    json_t *answer = NULL;
    if (rc == CLI_OK && set->to_send > 0)
        rc = commit(c, id, set, o->message, &answer);
    if (rc == CLI_OK)
        print_result(set, id, answer, util_mono_ms() - started, o);
    json_decref(answer);
    return rc;
}

static int parse_opts(int argc, char **argv, upload_opts *o)
{
    static const struct option opts[] = {
        {"message", required_argument, NULL, 'm'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    optind = 0;
    while ((opt = cli_getopt(argc, argv, opts, "upload")) != -1) {
        if (opt == 'h')
            return -1;
        if (opt == 'm')
            o->message = optarg;
        else if (opt == 'j')
            o->json = 1;
        else
            return CLI_USAGE;
    }
    if (argc - optind < 1 || argc - optind > 2)
        return cli_usage_error("upload", "takes SPACE and an optional DIR");
    return CLI_OK;
}

int cli_upload_main(int argc, char **argv)
{
    upload_opts o = {0};
    int rc = parse_opts(argc, argv, &o);
    if (rc < 0)
        return cli_help("upload", stdout);
    if (rc != CLI_OK)
        return rc;
    upload_set set = {.root = optind + 1 < argc ? argv[optind + 1] : "."};
    const char *space = argv[optind];
    struct stat st;
    if (stat(set.root, &st) < 0 || !S_ISDIR(st.st_mode))
        return cli_usage_error("upload", "%s is not a folder", set.root);
    char id[CLI_SPACE_ID_MAX];
    cli_client c;
    git_libgit2_init();
    rc = cli_client_open(&c);
    if (rc == CLI_OK)
        rc = cli_space_id(&c, space, id);
    if (rc == CLI_OK)
        rc = upload_run(&c, id, &set, &o);
    cli_client_close(&c);
    set_free(&set);
    git_libgit2_shutdown();
    return rc;
}
