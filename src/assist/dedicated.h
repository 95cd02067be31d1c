/* A dedicated assist: one thread running one shard for one connection. */
#ifndef TICKLESS_ASSIST_DEDICATED_H
#define TICKLESS_ASSIST_DEDICATED_H

#include "assist/shard.h"

typedef struct dedicated {
    shard shard;
} dedicated;

/* Starts a thread for |l|. Returns 0, TICKLESS_ERR_NOMEM or
 * TICKLESS_ERR_SYS. */
int tl_dedicated_start(assist_link *l);

/* Detaches |l|, stops and joins the thread, frees everything. Must not be
 * called from the assist thread itself. */
void tl_dedicated_stop(dedicated *d, assist_link *l);

#endif
