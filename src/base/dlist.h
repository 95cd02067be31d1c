/* The two operations of tickless's intrusive doubly-linked lists: a
 * connection's wait queues with sleepers (waitq.prev/next), a listener's
 * accepted connections (member_prev/member_next) and a shard's links with
 * a changed deadline (changed_prev/changed_next). Each element carries
 * its own two pointers, named by the caller, and the list is a pointer to
 * its first element, so that adding and removing take O(1) and no memory.
 * Neither checks membership: the caller knows. */
#ifndef TICKLESS_BASE_DLIST_H
#define TICKLESS_BASE_DLIST_H

#include <stddef.h>

/* Puts |elm| first in the list |head|. */
#define DLIST_PUSH(head, elm, prev, next)                                     \
    do {                                                                      \
        (elm)->prev = NULL;                                                   \
        (elm)->next = (head);                                                 \
        if ((head) != NULL)                                                   \
            (head)->prev = (elm);                                             \
        (head) = (elm);                                                       \
    } while (0)

/* Takes |elm| out of the list |head|; its pointers end NULL. */
#define DLIST_REMOVE(head, elm, prev, next)                                   \
    do {                                                                      \
        if ((elm)->prev != NULL)                                              \
            (elm)->prev->next = (elm)->next;                                  \
        else                                                                  \
            (head) = (elm)->next;                                             \
        if ((elm)->next != NULL)                                              \
            (elm)->next->prev = (elm)->prev;                                  \
        (elm)->prev = (elm)->next = NULL;                                     \
    } while (0)

#endif
