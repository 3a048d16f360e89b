#include "lib/log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/util.h"

static log_level min_level = LOG_INFO;
static FILE *log_file;

static const char *level_names[] = {"debug", "info", "warn", "error"};

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
    fprintf(log_out(), "%s %s %s: %s\n", ts, level_names[level], module, msg);
}

void log_access_line(const char *json)
{
    fprintf(log_out(), "%s\n", json);
}
