/* firewall: keeps builds away from the host's own services.
 *
 * Builds need the network (package indexes), so they run on the host's
 * network namespace as one unprivileged user (build.c's BUILD_UID). Without
 * more, code a build runs (a package's setup.py) could connect to the
 * daemon's port and to every service of the host that trusts local clients.
 * Every connection to a local address is routed through the loopback
 * interface, so one netfilter rule per family matching that user's packets
 * leaving through lo rejects them all, while DNS (a resolver on 127.0.0.53,
 * as systemd-resolved runs) and the world outside stay reachable. The rules
 * live in chains of their own (HANGAR-BUILD), made idempotently at start-up
 * with iptables and ip6tables; without those tools the daemon says so and
 * builds keep the whole host network. */
#ifndef HANGAR_FIREWALL_H
#define HANGAR_FIREWALL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Installs (or finds installed) the rules for uid; allow_ports (0-terminated,
 * or NULL) are local TCP ports builds may still reach (a package mirror or
 * proxy on the host). 0, or -1 with a reason in err. Blocks briefly: it runs
 * iptables, once, at start-up. */
int firewall_block_local(uid_t uid, const int *allow_ports, char *err, size_t errsize);

#endif
