/* The log callback (tickless_set_log()): events a user debugging a stall
 * wants to see. Reporting is cheap to skip: one relaxed load when no
 * callback is installed. */
#ifndef TICKLESS_BASE_LOG_H
#define TICKLESS_BASE_LOG_H

#include <stdint.h>

#include "tickless/tickless.h"

/* Formats and hands the event to the callback, if one is installed for
 * |level|. May be called with a connection's mutex held. */
void tl_log(int level, tickless_conn *c, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Lateness above which a timer tick is reported (0: never). */
uint64_t tl_log_late_threshold_ns(void);

#endif
