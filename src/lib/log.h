/* log: leveled diagnostics and the JSON access log.
 *
 * Diagnostics go to stderr (or the file given with log_open) as one line each,
 * "ts level module: message". The access log is one JSON object per request. */
#ifndef HANGAR_LOG_H
#define HANGAR_LOG_H

#include <stdarg.h>

typedef enum { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

void log_set_level(log_level level);
int log_open(const char *path); /* redirect to a file; -1 on error */
void log_close(void);
void log_msg(log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Adds one pre-formatted JSON line to this thread's access log buffer: it is
 * written by log_flush, which each event loop calls at the end of its turn
 * (http does), before any diagnostic line of the thread, and by log_close. A
 * thread that logs access lines must call log_flush before it ends. */
void log_access_line(const char *json);
void log_flush(void);

#define log_debug(mod, ...) log_msg(LOG_DEBUG, mod, __VA_ARGS__)
#define log_info(mod, ...) log_msg(LOG_INFO, mod, __VA_ARGS__)
#define log_warn(mod, ...) log_msg(LOG_WARN, mod, __VA_ARGS__)
#define log_error(mod, ...) log_msg(LOG_ERROR, mod, __VA_ARGS__)

#endif
