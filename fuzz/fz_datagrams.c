/* fz_datagrams: see fz_datagrams.h. */
#include "fz_datagrams.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fz.h"

#define TARGET_SERVER 0
#define TARGET_CLIENT 1
#define TARGET_STRANGER 2
#define TARGET_ECHO 3

#define FORM_RAW 0
#define FORM_SPLICE 1
#define FORM_XOR_FIRST 2
#define FORM_XOR_LAST 3

#define MAX_QUIET_MS 20
/* What one socket's receive queue may be given between two echoes: a
 * datagram costs the kernel about its length plus 1 KiB, and a loopback
 * UDP socket holds 208 KiB by default. Past that the kernel would drop
 * datagrams, the echo among them; DTLS cannot get it back, and the input
 * would only measure the buffer. The rest of such an input is not sent. */
#define QUEUE_BUDGET (150u * 1024u)
#define DGRAM_COST 1024u
/* A capture plus a payload, with room to spare. */
#define DGRAM_MAX (FZ_CAPTURE_MAX + 2048)

/* Builds the datagram a record asks for into |out|; returns its length. */
static size_t build(fz_victim *v, int form, int to_server, const uint8_t *p,
                    size_t n, uint8_t *out)
{
    size_t len, i, at;

    switch (form) {
    case FORM_SPLICE:
        len = fz_victim_capture(v, 0, to_server, out);
        if (n > 0 && p[0] < len)
            len = p[0];
        if (n > 1) {
            memcpy(out + len, p + 1, n - 1);
            len += n - 1;
        }
        return len;
    case FORM_XOR_FIRST:
    case FORM_XOR_LAST:
        len = fz_victim_capture(v, form == FORM_XOR_FIRST, to_server, out);
        if (len == 0 || n < 2)
            return len;
        at = ((size_t)p[0] << 8 | p[1]) % len;
        for (i = 2; i < n && at < len; i++, at++)
            out[at] ^= p[i];
        return len;
    default:
        memcpy(out, p, n);
        return n;
    }
}

static void send_one(fz_victim *v, int target, const uint8_t *d, size_t n,
                     size_t *budget)
{
    if (n + DGRAM_COST > budget[target])
        return;
    budget[target] -= n + DGRAM_COST;
    switch (target) {
    case TARGET_SERVER:
    case TARGET_CLIENT:
        /* Fails only on a full socket buffer or a stale ICMP error: then
         * this one is lost, as it could be on any network. */
        (void)ts_relay_inject(v->relay, 0, target == TARGET_SERVER, d, n);
        break;
    case TARGET_STRANGER:
        if (v->stranger_fd < 0 && v->ops->stranger_open(v) != 0)
            fz_die("%s: stranger_open: %s", v->name, v->why);
        (void)send(v->stranger_fd, d, n, MSG_DONTWAIT);
        break;
    }
    v->datagrams++;
}

void fz_datagrams_run(fz_victim *v, const uint8_t *data, size_t size)
{
    static uint8_t dgram[DGRAM_MAX];
    fz_in in = { data, size };
    unsigned quiet_ms = 0;
    size_t budget[3] = { QUEUE_BUDGET, QUEUE_BUDGET, QUEUE_BUDGET };

    v->inputs++;
    fz_victim_ensure(v);
    while (in.n > 0) {
        uint8_t op = fz_u8(&in);
        size_t want = fz_u16(&in) & 0x7ffu;
        const uint8_t *p;
        size_t n = fz_take(&in, want, &p), len;
        int target = op & 3, form = (op >> 2) & 3, reps = 1 + ((op >> 4) & 3);

        if (target == TARGET_ECHO) {
            /* Once it is back, all sent before it has been read. */
            if (fz_victim_echo(v) == 0)
                budget[TARGET_SERVER] = budget[TARGET_CLIENT] = QUEUE_BUDGET;
            continue;
        }
        if (target != TARGET_STRANGER && v->client == NULL)
            continue; /* died earlier in this input: nothing to aim at */
        len = build(v, form, target != TARGET_CLIENT, p, n, dgram);
        while (reps-- > 0)
            send_one(v, target, dgram, len, budget);
        if ((op & 0x40) && quiet_ms < MAX_QUIET_MS) {
            quiet_ms++;
            usleep(1000);
        }
    }
    if (v->stranger_fd >= 0) {
        v->ops->stranger_close(v);
        if (v->stranger_fd >= 0)
            fz_die("%s: stranger_close left the socket open", v->name);
    }
    if (v->ops->after_input != NULL)
        v->ops->after_input(v);
    /* The connection still echoes, or it died as the protocol allows and
     * a new one connects: the server still serves. */
    fz_victim_check(v);
}
