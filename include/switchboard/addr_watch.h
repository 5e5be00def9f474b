/* Follows the host's interface addresses at run time (a DHCP lease that came
 * late or changed, a second interface) so that a proxy listening on a
 * wildcard address keeps knowing which addresses are "us".
 *
 * DESIGN: one thread of its own (never a worker) reads rtnetlink address
 * notifications (RTM_NEWADDR / RTM_DELADDR). After each burst of them it
 * asks the identity to re-read the interface addresses; the identity swaps
 * its address set under RCU, so SIP threads never wait for it. */
#ifndef SWITCHBOARD_ADDR_WATCH_H
#define SWITCHBOARD_ADDR_WATCH_H

struct addr_watch;
struct identity;

/* Starts watching for @id. Returns 0 or SB_ESYS (no netlink here). */
int addr_watch_start(struct identity *id, struct addr_watch **out);
/* Stops the thread and frees the watcher (NULL is fine). */
void addr_watch_stop(struct addr_watch *w);

#endif
