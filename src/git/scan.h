/* scan: warns about credentials committed to a space's repository.
 *
 * A push or API commit that adds what looks like an access token or a private
 * key is accepted (it is the owner's repository) but warned about, because a
 * public space publishes its files. Recognised: Hugging Face tokens (hf_ and
 * 34 letters), AWS access key ids (AKIA and 16 upper-case letters or digits),
 * PEM private keys, and the space's own secret values. A finding names the
 * file, the line and the kind, never the value itself. */
#ifndef HANGAR_SCAN_H
#define HANGAR_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "store/store.h"

#define SCAN_MAX_FINDINGS 50  /* a report stops listing after this many */
#define SCAN_SECRET_MIN 6     /* shorter secret values match too much to report */
#define SCAN_MAX_COMMITS 1000 /* a push's commits scanned, newest first */

/* A known secret to look for: its name is what a finding shows. */
typedef struct scan_secret {
    const char *name;
    const char *value;
    size_t len;
} scan_secret;

typedef struct scan_report {
    buf text;     /* one "warning: ..." line per finding */
    size_t count; /* findings, including those past SCAN_MAX_FINDINGS */
} scan_report;

void scan_report_init(scan_report *r);
void scan_report_free(scan_report *r);
/* Scans one file's content and adds its findings to r. */
void scan_file(scan_report *r, const char *path, const unsigned char *data, size_t len,
               const scan_secret *secrets, size_t nsecrets);

/* The secret values of a space (store + vault), for scan_file; NULL when it
 * has none or they could not be read. Free with scan_secrets_free. */
scan_secret *scan_secrets_load(store *st, int64_t space_id, size_t *count);
void scan_secrets_free(scan_secret *secrets, size_t count);

/* Scans what the commits old_sha..new_sha of the bare repository repo_path
 * add: each commit's changed files against its first parent (up to
 * SCAN_MAX_COMMITS). old_sha NULL or all zeros (a new branch): the commits of
 * new_sha that no ref pointing elsewhere has. 0, or -1 when the repository
 * could not be read. */
int scan_commits(scan_report *r, const char *repo_path, const char *old_sha, const char *new_sha,
                 const scan_secret *secrets, size_t nsecrets);

/* The post-receive hook of a git push (`hangar __scan-push`, run by
 * receive-pack in the repository): reads git's "old new ref" lines on stdin,
 * scans each updated ref, and prints the findings to stderr, which git relays
 * to the pusher as "remote:" lines. The space's secrets are read from
 * $HANGAR_DATA (store and vault) in this process, so no value leaves it. The
 * report, as the JSON data of a secret-warning event, goes to the file named
 * by $HANGAR_SCAN_REPORT for the daemon to record. Always 0: a push is never
 * refused for this. */
#define SCAN_HOOK_COMMAND "__scan-push"
int scan_hook_main(void);

#endif
