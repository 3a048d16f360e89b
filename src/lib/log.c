#include "lib/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/util.h"

static log_level min_level = LOG_INFO;
static FILE *log_file;

static const char *level_names[] = {"debug", "info", "warn", "error"};

/* Access lines of this thread not yet written. Each loop writes them with one
 * write(2) at the end of its turn (log_flush, called by http's check handle),
 * as nginx does with `access_log ... buffer=`: one write per request was most
 * of the proxy's CPU time per request after the two sockets. A line is never
 * split across writes, so loops on several threads appending to one O_APPEND
 * file never interleave inside a line. */
#define ACCESS_BUF_SIZE (64 * 1024)
static _Thread_local char access_buf[ACCESS_BUF_SIZE];
static _Thread_local size_t access_len;

void log_set_level(log_level level)
{
    min_level = level;
}

int log_open(const char *path)
{
    FILE *f = fopen(path, "a");
    if (!f)
        return -1;
    setvbuf(f, NULL, _IOLBF, 0);
    log_close();
    log_file = f;
    return 0;
}

void log_close(void)
{
    log_flush();
    if (log_file)
        fclose(log_file);
    log_file = NULL;
}

static FILE *log_out(void)
{
    return log_file ? log_file : stderr;
}

void log_msg(log_level level, const char *module, const char *fmt, ...)
{
    if (level < min_level)
        return;
    char ts[40];
    util_iso8601_now(ts, sizeof ts);
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_flush(); /* the access lines before it stay before it */
    fprintf(log_out(), "%s %s %s: %s\n", ts, level_names[level], module, msg);
}

/* Writes all of [data, data + len) to fd; a failure is reported on stderr
 * (where else could it go) and the lines are dropped, never retried forever. */
static void write_all(int fd, const char *data, size_t len)
{
    while (len) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (fd != STDERR_FILENO)
                fprintf(stderr, "log: access log write failed: %s\n", strerror(errno));
            return;
        }
        data += n;
        len -= (size_t)n;
    }
}

void log_flush(void)
{
    if (!access_len)
        return;
    FILE *out = log_out();
    fflush(out); /* nothing of stdio's may be pending before our bytes */
    write_all(fileno(out), access_buf, access_len);
    access_len = 0;
}

void log_access_line(const char *json)
{
    size_t len = strlen(json);
    if (access_len + len + 1 > ACCESS_BUF_SIZE)
        log_flush();
    if (len + 1 > ACCESS_BUF_SIZE) { /* never happens with http's limits; still a whole line */
        FILE *out = log_out();
        fprintf(out, "%s\n", json);
        return;
    }
    memcpy(access_buf + access_len, json, len);
    access_buf[access_len + len] = '\n';
    access_len += len + 1;
}
