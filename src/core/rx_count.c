#include "core/rx_count.h"

#include <pthread.h>

#include "core/ossl.h"
#include "tickless/tickless.h"

#ifdef TICKLESS_HAVE_QUIC

/* BIO ex_data slot pointing back at the rx_count, so the application's
 * callback argument (BIO_set_callback_arg) stays the application's. */
static int rx_index = -1;
static pthread_once_t rx_once = PTHREAD_ONCE_INIT;

static void rx_index_init(void)
{
    rx_index = BIO_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

static long rx_count_cb(BIO *b, int oper, const char *argp, size_t len,
                        int argi, long argl, int ret, size_t *processed)
{
    rx_count *rc = BIO_get_ex_data(b, rx_index);
    long out = ret;

    if (rc == NULL)
        return ret;
    if (rc->chained != NULL)
        out = rc->chained(b, oper, argp, len, argi, argl, ret, processed);
    if (oper == (BIO_CB_RECVMMSG | BIO_CB_RETURN) && ret > 0) {
        const BIO_MMSG_CB_ARGS *args = (const BIO_MMSG_CB_ARGS *)argp;

        if (args->msgs_processed != NULL && *args->msgs_processed > 0)
            atomic_fetch_add_explicit(&rc->datagrams, *args->msgs_processed,
                                      memory_order_relaxed);
    }
    return out;
}

int tl_rx_count_watch(rx_count *rc, BIO *bio)
{
    atomic_init(&rc->datagrams, 0);
    rc->bio = NULL;
    rc->chained = NULL;
    if (bio == NULL)
        return 0;
    if (pthread_once(&rx_once, rx_index_init) != 0 || rx_index < 0)
        return TICKLESS_ERR_NOMEM;
    if (!BIO_up_ref(bio))
        return TICKLESS_ERR_NOMEM;
    if (!BIO_set_ex_data(bio, rx_index, rc)) {
        BIO_free(bio);
        return TICKLESS_ERR_NOMEM;
    }
    rc->bio = bio;
    rc->chained = BIO_get_callback_ex(bio);
    BIO_set_callback_ex(bio, rx_count_cb);
    return 0;
}

void tl_rx_count_unwatch(rx_count *rc)
{
    if (rc->bio == NULL)
        return;
    BIO_set_callback_ex(rc->bio, rc->chained);
    BIO_set_ex_data(rc->bio, rx_index, NULL);
    BIO_free(rc->bio);
    rc->bio = NULL;
}

#else /* no QUIC: no datagram engine to watch */

int tl_rx_count_watch(rx_count *rc, BIO *bio)
{
    (void)bio;
    atomic_init(&rc->datagrams, 0);
    rc->bio = NULL;
    rc->chained = NULL;
    return 0;
}

void tl_rx_count_unwatch(rx_count *rc)
{
    (void)rc;
}

#endif
