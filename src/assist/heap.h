/* An intrusive binary min-heap keyed by uint64_t, for the assist's timers.
 *
 * Why this shape
 * --------------
 * An assist (dedicated thread or pool shard) must answer "which connection's
 * deadline comes first?" before every sleep, and must move a connection's
 * deadline every time OpenSSL reports a new one (the shard files those in
 * batches, see shard.h's |changed|), which is far more often than a
 * deadline actually fires. So update and removal must be cheap, not just
 * push and pop.
 *
 * Each heap_node is embedded in its owner (the connection) and records its
 * own position in the heap's array. Re-keying or removing a node therefore
 * starts at a known slot and only sifts: O(log n), with no search (the same
 * idea as ngtcp2's ngtcp2_pq and libuv's heap-inl.h). An array rather than
 * libuv's pointer tree keeps the nodes two words long and the sift loops
 * cache-friendly; the price is a realloc when the heap grows, which is why
 * tl_heap_push() and tl_heap_update() can fail with TICKLESS_ERR_NOMEM.
 *
 * The heap owns only its pointer array, never the nodes. Ties between equal
 * keys come out in no particular order.
 *
 * Thread-safety: none of its own. A heap and every node in it are guarded by
 * whatever guards the owning assist (its shard mutex, or "owned by the assist
 * thread"); the caller documents which.
 */
#ifndef TICKLESS_ASSIST_HEAP_H
#define TICKLESS_ASSIST_HEAP_H

#include <stddef.h>
#include <stdint.h>

/* heap_node.index of a node that is in no heap. */
#define HEAP_NOT_IN SIZE_MAX

typedef struct heap_node {
    uint64_t key;  /* the deadline; read it, but change it only through
                      tl_heap_update() while the node is in a heap */
    size_t index;  /* slot in heap.nodes, or HEAP_NOT_IN; heap-private */
} heap_node;

typedef struct heap {
    heap_node **nodes; /* nodes[0] has the smallest key; nodes[i]'s children
                          are nodes[2i+1] and nodes[2i+2] */
    size_t len;        /* nodes in use */
    size_t cap;        /* slots allocated */
} heap;

/* tl_heap_init() makes |h| an empty heap. It allocates nothing, so it cannot
 * fail. */
void tl_heap_init(heap *h);

/* tl_heap_destroy() frees the array and leaves |h| empty, as after
 * tl_heap_init() (so destroying twice is harmless). It does not touch the
 * nodes: their owners may already be freed at teardown. A node still in the
 * heap keeps a stale index; call tl_heap_node_init() before reusing it. */
void tl_heap_destroy(heap *h);

/* tl_heap_node_init() marks |n| as in no heap. Call it once when the owner is
 * created. */
void tl_heap_node_init(heap_node *n);

/* tl_heap_push() inserts |n| with |key|.
 * Precondition: |n| is in no heap (asserted).
 * Returns: 0, or TICKLESS_ERR_NOMEM (growing the array failed; |h| and |n|
 *          are unchanged). */
int tl_heap_push(heap *h, heap_node *n, uint64_t key);

/* tl_heap_reserve() makes room for |n| nodes, so that pushes and updates up to
 * that many cannot fail. The assist reserves a slot per connection when the
 * connection attaches: a deadline update must never be lost to an
 * allocation failure.
 *
 * Returns: 0, or TICKLESS_ERR_NOMEM (the heap is unchanged). */
int tl_heap_reserve(heap *h, size_t n);

/* tl_heap_remove() takes |n| out of |h|. A no-op if |n| is in no heap.
 * Precondition: if |n| is in a heap, it is |h| (asserted). */
void tl_heap_remove(heap *h, heap_node *n);

/* tl_heap_update() gives |n| a new key, moving it up or down as needed, or
 * pushes it if it is in no heap. Cannot fail unless it has to push.
 * Precondition: if |n| is in a heap, it is |h| (asserted).
 * Returns: 0, or TICKLESS_ERR_NOMEM (only when pushing; nothing changed). */
int tl_heap_update(heap *h, heap_node *n, uint64_t key);

/* tl_heap_top() returns the node with the smallest key, or NULL if |h| is
 * empty. The node stays in the heap. */
heap_node *tl_heap_top(const heap *h);

/* tl_heap_pop() removes and returns the node with the smallest key, or NULL if
 * |h| is empty. The returned node is in no heap. */
heap_node *tl_heap_pop(heap *h);

/* heap_contains() tells whether |n| is in some heap. */
static inline int heap_contains(const heap_node *n)
{
    return n->index != HEAP_NOT_IN;
}

/* tl_heap_size() returns the number of nodes in |h|. */
size_t tl_heap_size(const heap *h);

#endif /* TICKLESS_ASSIST_HEAP_H */
