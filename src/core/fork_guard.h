/* fork(): the child gets a copy of every tickless object but none of the
 * threads that ran them, and maybe mutexes that a thread it does not have
 * was holding. Using those objects would deadlock or corrupt memory. So
 * each object records the generation of the process it was made in; the
 * child of a fork() starts a new generation (pthread_atfork), and every
 * public function refuses an object of an older one with
 * TICKLESS_ERR_FORKED without touching its locks. The parent is not
 * affected; the child may make objects of its own, and exec() as usual. */
#ifndef TICKLESS_CORE_FORK_GUARD_H
#define TICKLESS_CORE_FORK_GUARD_H

/* The current generation; arms the fork handler on first use. Objects take
 * it when they are made. */
unsigned tl_fork_guard_generation(void);

/* Whether an object of generation |gen| came from before a fork(). */
int tl_fork_guard_stale(unsigned gen);

#endif
