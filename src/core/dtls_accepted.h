/* Which clients a DTLS listener has given a socket of their own, and
 * since when: a hello with a valid cookie that arrived before its client's
 * socket was connected is a copy, not a new client.
 *
 * A client may send its hello with the cookie twice (it answers each of
 * two cookie requests under loss, or the network duplicates it), and the
 * listening socket keeps every copy until some worker reads it, which
 * under load can be seconds later. A second connection for one client
 * would answer with a second ServerHello flight, which the client mixes
 * with the first ("bad signature"). Once the client's own socket is
 * connected the kernel gives that socket the client's datagrams, so what
 * the listening socket still holds from the client arrived before: a hello
 * that arrived after is a client starting again (its socket closed since).
 * Arrival times are the kernel's receive timestamps (CLOCK_REALTIME). */
#ifndef TICKLESS_CORE_DTLS_ACCEPTED_H
#define TICKLESS_CORE_DTLS_ACCEPTED_H

#include <stddef.h>
#include <stdint.h>

#define ACCEPTED_MAX 256 /* clients remembered, the oldest forgotten first */
#define ADDR_KEY_MAX 20  /* family, IPv6 address, port */
#define ACCEPTED_CONNECTING UINT64_MAX

typedef struct accepted_peer {
    unsigned char key[ADDR_KEY_MAX]; /* the client's address */
    size_t len;                      /* 0: an unused slot */
    uint64_t since_rt_ns; /* its socket connected then; ACCEPTED_CONNECTING
                             while it is being made */
} accepted_peer;

typedef struct accepted_set {
    accepted_peer peer[ACCEPTED_MAX];
    unsigned next; /* the slot the next client takes */
} accepted_set;

/* Whether a hello from |key| that arrived at |arrival_rt_ns| is a copy of
 * one whose client was accepted already. */
int tl_accepted_is_copy(const accepted_set *s, const unsigned char *key,
                        size_t len, uint64_t arrival_rt_ns);

/* |key| is accepted and its socket is being made: until
 * tl_accepted_connected(), every hello from it is a copy. */
void tl_accepted_add(accepted_set *s, const unsigned char *key, size_t len);

/* |key|'s socket was connected at |rt_ns|; 0: it could not be, and the
 * client is forgotten. */
void tl_accepted_connected(accepted_set *s, const unsigned char *key,
                           size_t len, uint64_t rt_ns);

#endif
