#include "runtime/firewall.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/log.h"

#define FIREWALL_CHAIN "HANGAR-BUILD"

extern char **environ;

/* Runs tool with argv (silently): its exit status, or -1 when it cannot run. */
static int run(const char *tool, char *const argv[])
{
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int status;
    if (posix_spawn_file_actions_init(&fa) != 0)
        return -1;
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    int rc = posix_spawnp(&pid, tool, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return -1;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A rule of the chain, added unless present (-C finds it). */
static int ensure(const char *tool, const char *table_op, char *const rule[])
{
    char *argv[32];
    size_t n = 0;
    argv[n++] = (char *)tool;
    argv[n++] = "-w";
    argv[n++] = "-C";
    for (size_t i = 0; rule[i] && n < 30; i++)
        argv[n++] = rule[i];
    argv[n] = NULL;
    if (run(tool, argv) == 0)
        return 0;
    argv[2] = (char *)table_op; /* -A at the end, or -I at the top */
    return run(tool, argv) == 0 ? 0 : -1;
}

static int family_rules(const char *tool, uid_t uid, const int *allow_ports)
{
    char uidtext[16];
    snprintf(uidtext, sizeof uidtext, "%u", (unsigned)uid);
    /* the chain may exist already: -N fails then, harmlessly */
    run(tool, (char *[]){(char *)tool, "-w", "-N", FIREWALL_CHAIN, NULL});
    /* the exceptions go on top (-I), the REJECT stays last (-A), whatever an
     * earlier start with other exceptions left */
    if (ensure(tool, "-A", (char *[]){FIREWALL_CHAIN, "-j", "REJECT", NULL}) < 0 ||
        ensure(tool, "-I",
               (char *[]){FIREWALL_CHAIN, "-p", "udp", "--dport", "53", "-j", "RETURN", NULL}) <
            0 ||
        ensure(tool, "-I",
               (char *[]){FIREWALL_CHAIN, "-p", "tcp", "--dport", "53", "-j", "RETURN", NULL}) < 0)
        return -1;
    for (size_t i = 0; allow_ports && allow_ports[i]; i++) {
        char port[16];
        snprintf(port, sizeof port, "%d", allow_ports[i]);
        if (ensure(tool, "-I",
                   (char *[]){FIREWALL_CHAIN, "-p", "tcp", "--dport", port, "-j", "RETURN", NULL}) <
            0)
            return -1;
    }
    return ensure(tool, "-I",
                  (char *[]){"OUTPUT", "-o", "lo", "-m", "owner", "--uid-owner", uidtext, "-j",
                             FIREWALL_CHAIN, NULL});
}

int firewall_block_local(uid_t uid, const int *allow_ports, char *err, size_t errsize)
{
    if (family_rules("iptables", uid, allow_ports) < 0) {
        snprintf(err, errsize,
                 "iptables could not add the %s rules (is iptables installed, and are we root?)",
                 FIREWALL_CHAIN);
        return -1;
    }
    /* IPv6 may be disabled on the host: ::1 is then unreachable anyway */
    if (family_rules("ip6tables", uid, allow_ports) < 0)
        log_info("firewall", "no IPv6 rules (ip6tables failed): fine where IPv6 is off");
    return 0;
}
