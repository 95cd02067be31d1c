// Unit tests for src/assist/heap.c: the assist's timer heap.
//
// Each operation, its edge cases, checked against a trivially correct model
// (heap_fixture.h), with the heap's internal invariants verified after every
// operation. (Long random operation sequences: HeapRandomTest.)
//
// Allocation failure (TICKLESS_ERR_NOMEM) is covered by the failure-injection
// suite, not here.

#include "heap_fixture.h"

#include <cstdint>

namespace {

class HeapTest : public HeapFixture {};

TEST_F(HeapTest, EmptyHeap)
{
    EXPECT_EQ(0u, tl_heap_size(&h_));
    EXPECT_EQ(nullptr, tl_heap_top(&h_));
    EXPECT_EQ(nullptr, tl_heap_pop(&h_));
}

TEST_F(HeapTest, NodeInitMarksNotInHeap)
{
    heap_node n;
    n.index = 7;
    tl_heap_node_init(&n);
    EXPECT_FALSE(heap_contains(&n));
    EXPECT_EQ(HEAP_NOT_IN, n.index);
}

TEST_F(HeapTest, PopsInKeyOrder)
{
    MakeItems(100);
    // Keys 0..99 pushed in a scrambled order (37 is coprime to 100).
    for (int i = 0; i < 100; i++)
        Push(i, static_cast<uint64_t>((i * 37) % 100));
    ASSERT_TRUE(Consistent(h_, items_, model_));
    for (uint64_t k = 0; k < 100; k++) {
        heap_node *n = tl_heap_pop(&h_);
        ASSERT_NE(nullptr, n);
        EXPECT_EQ(k, n->key);
        EXPECT_FALSE(heap_contains(n));
    }
    EXPECT_EQ(0u, tl_heap_size(&h_));
}

TEST_F(HeapTest, PopsSortedWithExtremeKeys)
{
    MakeItems(5);
    Push(0, UINT64_MAX);
    Push(1, 0);
    Push(2, 42);
    Push(3, UINT64_MAX - 1);
    Push(4, 1);
    const uint64_t want[] = {0, 1, 42, UINT64_MAX - 1, UINT64_MAX};
    for (uint64_t k : want) {
        heap_node *n = tl_heap_pop(&h_);
        ASSERT_NE(nullptr, n);
        EXPECT_EQ(k, n->key);
        EXPECT_FALSE(heap_contains(n));
    }
    EXPECT_EQ(nullptr, tl_heap_pop(&h_));
}

TEST_F(HeapTest, GrowsPastInitialCapacity)
{
    // 16 is the first allocation; 1000 forces several doublings, and the
    // nodes must keep their indices through each realloc.
    MakeItems(1000);
    for (int i = 0; i < 1000; i++) {
        Push(i, static_cast<uint64_t>(1000 - i));
        ASSERT_TRUE(Consistent(h_, items_, model_)) << "after push " << i;
    }
    for (uint64_t k = 1; k <= 1000; k++) {
        heap_node *n = tl_heap_pop(&h_);
        ASSERT_NE(nullptr, n);
        ASSERT_EQ(k, n->key);
    }
}

TEST_F(HeapTest, RemoveTopMiddleLast)
{
    MakeItems(15);
    for (int i = 0; i < 15; i++)
        Push(i, static_cast<uint64_t>(i * 10));
    ASSERT_TRUE(Consistent(h_, items_, model_));

    // The top (key 0, slot 0).
    heap_node *top = tl_heap_top(&h_);
    ASSERT_EQ(&items_[0].node, top);
    tl_heap_remove(&h_, top);
    model_.erase({0, 0});
    EXPECT_FALSE(heap_contains(top));
    ASSERT_TRUE(Consistent(h_, items_, model_));
    EXPECT_EQ(10u, tl_heap_top(&h_)->key);

    // The node in the last slot: removal must not disturb anything else.
    heap_node *last = h_.nodes[h_.len - 1];
    int last_id = owner_of(last)->id;
    tl_heap_remove(&h_, last);
    model_.erase({last->key, last_id});
    EXPECT_FALSE(heap_contains(last));
    ASSERT_TRUE(Consistent(h_, items_, model_));

    // A node in the middle: neither root nor leaf.
    heap_node *mid = h_.nodes[2];
    ASSERT_LT(2 * 2 + 1, static_cast<int>(h_.len)); // it has a child
    int mid_id = owner_of(mid)->id;
    tl_heap_remove(&h_, mid);
    model_.erase({mid->key, mid_id});
    EXPECT_FALSE(heap_contains(mid));
    ASSERT_TRUE(Consistent(h_, items_, model_));

    // Removing again is a no-op.
    size_t before = tl_heap_size(&h_);
    tl_heap_remove(&h_, mid);
    EXPECT_EQ(before, tl_heap_size(&h_));
    ASSERT_TRUE(Consistent(h_, items_, model_));
}

TEST_F(HeapTest, RemoveWhereLastNodeMustMoveUp)
{
    // The node that fills a hole comes from another subtree and may be
    // smaller than the hole's parent. Left subtree large keys, right subtree
    // small keys, then remove a deep left node: the last node (from the
    // right) must sift up, not down.
    MakeItems(7);
    Push(0, 0);
    Push(1, 100); // slot 1
    Push(2, 1);   // slot 2
    Push(3, 101); // slot 3, child of 1
    Push(4, 102); // slot 4, child of 1
    Push(5, 2);   // slot 5, child of 2
    Push(6, 3);   // slot 6, child of 2: the last slot
    ASSERT_EQ(&items_[3].node, h_.nodes[3]);
    tl_heap_remove(&h_, &items_[3].node);
    model_.erase({101, 3});
    ASSERT_TRUE(Consistent(h_, items_, model_));
    EXPECT_EQ(1u, items_[6].node.index); // key 3 moved above key 100
}

TEST_F(HeapTest, UpdateUpAndDown)
{
    MakeItems(10);
    for (int i = 0; i < 10; i++)
        Push(i, static_cast<uint64_t>(100 + i * 10));

    // Down: the top gets the largest key and must leave the root.
    heap_node *n = &items_[0].node;
    ASSERT_EQ(0, tl_heap_update(&h_, n, 1000));
    model_.erase({100, 0});
    model_.insert({1000, 0});
    ASSERT_TRUE(Consistent(h_, items_, model_));
    EXPECT_NE(n, tl_heap_top(&h_));
    EXPECT_EQ(110u, tl_heap_top(&h_)->key);

    // Up: a leaf gets the smallest key and must become the root.
    n = &items_[9].node;
    ASSERT_EQ(0, tl_heap_update(&h_, n, 5));
    model_.erase({190, 9});
    model_.insert({5, 9});
    ASSERT_TRUE(Consistent(h_, items_, model_));
    EXPECT_EQ(n, tl_heap_top(&h_));

    // Same key: nothing moves.
    size_t idx = items_[4].node.index;
    ASSERT_EQ(0, tl_heap_update(&h_, &items_[4].node, 140));
    EXPECT_EQ(idx, items_[4].node.index);
    ASSERT_TRUE(Consistent(h_, items_, model_));
}

TEST_F(HeapTest, UpdatePushesWhenNotInHeap)
{
    MakeItems(2);
    Push(0, 50);
    ASSERT_EQ(0, tl_heap_update(&h_, &items_[1].node, 7));
    model_.insert({7, 1});
    EXPECT_TRUE(heap_contains(&items_[1].node));
    EXPECT_EQ(&items_[1].node, tl_heap_top(&h_));
    ASSERT_TRUE(Consistent(h_, items_, model_));
}

TEST_F(HeapTest, ReuseAfterPopAndDestroy)
{
    MakeItems(3);
    Push(0, 3);
    Push(1, 1);
    heap_node *n = tl_heap_pop(&h_);
    ASSERT_EQ(&items_[1].node, n);
    model_.erase({1, 1});
    // A popped node can go straight back in.
    Push(1, 2);
    ASSERT_TRUE(Consistent(h_, items_, model_));

    // Destroy empties the heap and leaves it usable; destroying twice is
    // harmless. Nodes still in it keep stale indices until re-initialised.
    tl_heap_destroy(&h_);
    EXPECT_EQ(0u, tl_heap_size(&h_));
    EXPECT_EQ(nullptr, tl_heap_top(&h_));
    tl_heap_destroy(&h_);
    for (Item &it : items_)
        tl_heap_node_init(&it.node);
    model_.clear();
    Push(2, 9);
    ASSERT_TRUE(Consistent(h_, items_, model_));
}

} // namespace
