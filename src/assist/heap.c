/* Array-based intrusive min-heap; see heap.h for why it is shaped this way. */
#include "assist/heap.h"

#include <assert.h>

#include "base/alloc.h"
#include "tickless/tickless.h"

/* First allocation. Small enough not to matter for a dedicated assist (one
 * node), large enough that a pool shard rarely reallocates. */
#define HEAP_INITIAL_CAP 16

void tl_heap_init(heap *h)
{
    h->nodes = NULL;
    h->len = 0;
    h->cap = 0;
}

void tl_heap_destroy(heap *h)
{
    tl_free(h->nodes);
    tl_heap_init(h);
}

void tl_heap_node_init(heap_node *n)
{
    n->key = 0;
    n->index = HEAP_NOT_IN;
}

size_t tl_heap_size(const heap *h)
{
    return h->len;
}

heap_node *tl_heap_top(const heap *h)
{
    return h->len == 0 ? NULL : h->nodes[0];
}

/* Puts |n| in slot |i| and tells it so. Every write to h->nodes goes through
 * here, which is what keeps node->index true. */
static void heap_place(heap *h, size_t i, heap_node *n)
{
    h->nodes[i] = n;
    n->index = i;
}

/* Moves the node in slot |i| towards the root while its parent's key is
 * larger. Instead of swapping at each level, it shifts parents down and
 * writes the moving node once, at its final slot. */
static void heap_sift_up(heap *h, size_t i)
{
    heap_node *n = h->nodes[i];

    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h->nodes[parent]->key <= n->key)
            break;
        heap_place(h, i, h->nodes[parent]);
        i = parent;
    }
    heap_place(h, i, n);
}

/* Moves the node in slot |i| towards the leaves while a child's key is
 * smaller, always following the smaller child so the heap order holds. */
static void heap_sift_down(heap *h, size_t i)
{
    heap_node *n = h->nodes[i];

    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->len)
            break;
        if (child + 1 < h->len &&
            h->nodes[child + 1]->key < h->nodes[child]->key)
            child++;
        if (n->key <= h->nodes[child]->key)
            break;
        heap_place(h, i, h->nodes[child]);
        i = child;
    }
    heap_place(h, i, n);
}

/* Restores the heap order around slot |i| after its key changed (or a
 * different node landed there): at most one of the two sifts moves it. */
static void heap_fix(heap *h, size_t i)
{
    if (i > 0 && h->nodes[(i - 1) / 2]->key > h->nodes[i]->key)
        heap_sift_up(h, i);
    else
        heap_sift_down(h, i);
}

/* Makes room for one more node. Doubling keeps pushes amortised O(1); the
 * array never shrinks, because a shard's timer count returns to its peak. */
static int heap_grow(heap *h)
{
    size_t cap = h->cap == 0 ? HEAP_INITIAL_CAP : h->cap * 2;
    heap_node **nodes;

    if (cap < h->cap || cap > SIZE_MAX / sizeof(*nodes))
        return TICKLESS_ERR_NOMEM;
    nodes = tl_realloc(h->nodes, cap * sizeof(*nodes));
    if (nodes == NULL)
        return TICKLESS_ERR_NOMEM; /* h->nodes is still valid and unchanged */
    h->nodes = nodes;
    h->cap = cap;
    return 0;
}

int tl_heap_reserve(heap *h, size_t n)
{
    while (h->cap < n) {
        int rv = heap_grow(h);

        if (rv != 0)
            return rv;
    }
    return 0;
}

int tl_heap_push(heap *h, heap_node *n, uint64_t key)
{
    assert(!heap_contains(n));

    if (h->len == h->cap) {
        int rv = heap_grow(h);
        if (rv != 0)
            return rv;
    }
    n->key = key;
    heap_place(h, h->len, n);
    h->len++;
    heap_sift_up(h, n->index);
    return 0;
}

void tl_heap_remove(heap *h, heap_node *n)
{
    size_t i = n->index;
    heap_node *last;

    if (!heap_contains(n))
        return;
    /* Catches a node removed from the wrong heap before it corrupts both. */
    assert(i < h->len && h->nodes[i] == n);

    h->len--;
    last = h->nodes[h->len];
    n->index = HEAP_NOT_IN;
    if (last == n)
        return; /* it was the last slot: nothing to fill */
    /* Fill the hole with the last node. Its key may be smaller than the hole's
     * parent (it came from another subtree) or larger than the hole's
     * children, so it may have to move either way. */
    heap_place(h, i, last);
    heap_fix(h, i);
}

int tl_heap_update(heap *h, heap_node *n, uint64_t key)
{
    if (!heap_contains(n))
        return tl_heap_push(h, n, key);
    assert(n->index < h->len && h->nodes[n->index] == n);

    n->key = key;
    heap_fix(h, n->index);
    return 0;
}

heap_node *tl_heap_pop(heap *h)
{
    heap_node *top = tl_heap_top(h);

    if (top != NULL)
        tl_heap_remove(h, top);
    return top;
}
