/*
 * scenario: one run, in a process of its own: a pool in the run's mode,
 * |conns| connection slots each re-made after every close, |threads|
 * workers per connection, a watchdog, and at the end the checks that
 * everything was given back (pool freed, no thread or descriptor left).
 */
#ifndef TORTURE_SCENARIO_H
#define TORTURE_SCENARIO_H

#include "torture.h"

namespace torture {

/* Returns the number of failed checks (0: passed). */
int run_scenario(const Config &cfg);

} // namespace torture

#endif
