/*
 * annotate: happens-before hints for Valgrind's race detectors.
 *
 * DRD and Helgrind see the ordering that mutexes, condition variables,
 * thread creation and joins give, but not the ordering C11 atomics give. A
 * reference count dropped with memory_order_acq_rel orders every use of an
 * object before its free, whichever thread drops the last reference; without
 * a hint the detectors report that free (SSL_free() on an assist thread,
 * after an application thread's last call under the connection mutex) as a
 * race. scripts/valgrind runs DRD on the suite; these hints keep it to real
 * findings.
 *
 * Built against Valgrind's headers, a hint is a client request: a few
 * instructions that do nothing outside Valgrind. Without them, nothing.
 */
#ifndef TICKLESS_BASE_ANNOTATE_H
#define TICKLESS_BASE_ANNOTATE_H

#if defined(__has_include)
#if __has_include(<valgrind/drd.h>)
#include <valgrind/drd.h>
#define ANNOTATE_HAVE_VALGRIND 1
#endif
#endif

#ifdef ANNOTATE_HAVE_VALGRIND
/* Everything this thread did before is ordered before whatever a thread
 * does after an annotate_happens_after() on the same address. */
#define annotate_happens_before(addr) ANNOTATE_HAPPENS_BEFORE(addr)
#define annotate_happens_after(addr) ANNOTATE_HAPPENS_AFTER(addr)
#else
#define annotate_happens_before(addr) ((void)(addr))
#define annotate_happens_after(addr) ((void)(addr))
#endif

#endif /* TICKLESS_BASE_ANNOTATE_H */
