/* Allocation wrappers: every allocation inside tickless goes through these so
 * that a test can make the Nth one fail (failure injection, as c-ares's
 * SetAllocFail does) and check that nothing leaks and the error is clean. */
#ifndef TICKLESS_BASE_ALLOC_H
#define TICKLESS_BASE_ALLOC_H

#include <stddef.h>

void *tl_malloc(size_t size);
void *tl_calloc(size_t n, size_t size);
void *tl_realloc(void *p, size_t size);
void tl_free(void *p);

/* Test hook: the |n|th allocation from now fails (1 = the next one); 0
 * disables injection. Returns how many allocations were made since the last
 * call, so a test can learn how many points a scenario has. Internal symbol:
 * tests link tickless_internal (not installed). */
unsigned long tl_alloc_fail_after(unsigned long n);

#endif
