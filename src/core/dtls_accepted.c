/* Accepted DTLS clients: see dtls_accepted.h. */
#include "core/dtls_accepted.h"

#include <string.h>

static accepted_peer *find(const accepted_set *s, const unsigned char *key,
                           size_t len)
{
    int i;

    for (i = 0; i < ACCEPTED_MAX; i++) {
        const accepted_peer *p = &s->peer[i];

        if (p->len == len && memcmp(p->key, key, len) == 0)
            return (accepted_peer *)p;
    }
    return NULL;
}

int tl_accepted_is_copy(const accepted_set *s, const unsigned char *key,
                        size_t len, uint64_t arrival_rt_ns)
{
    const accepted_peer *p = find(s, key, len);

    return p != NULL && arrival_rt_ns < p->since_rt_ns;
}

void tl_accepted_add(accepted_set *s, const unsigned char *key, size_t len)
{
    accepted_peer *p = find(s, key, len);

    if (len == 0 || len > ADDR_KEY_MAX)
        return;
    if (p == NULL)
        p = &s->peer[s->next++ % ACCEPTED_MAX];
    memcpy(p->key, key, len);
    p->len = len;
    p->since_rt_ns = ACCEPTED_CONNECTING;
}

void tl_accepted_connected(accepted_set *s, const unsigned char *key,
                           size_t len, uint64_t rt_ns)
{
    accepted_peer *p = find(s, key, len);

    if (p == NULL)
        return;
    if (rt_ns == 0)
        p->len = 0;
    else
        p->since_rt_ns = rt_ns;
}
