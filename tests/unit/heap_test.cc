// Unit tests for src/assist/heap.c: the assist's timer heap.
//
// The heap is checked against a trivially correct model (a std::multiset of
// (key, item) pairs) over long random operation sequences, and its internal
// invariants (every node knows its slot; parents are never larger than their
// children) are verified after every single operation, so a bug is reported
// at the operation that introduced it rather than many steps later.
//
// Allocation failure (TICKLESS_ERR_NOMEM) is covered by the failure-injection
// suite, not here.

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <set>
#include <utility>
#include <vector>

extern "C" {
#include "assist/heap.h"
}

namespace {

// An owner with an embedded node, as a connection embeds its timer.
struct Item {
    int id;
    heap_node node;
};

Item *owner_of(heap_node *n)
{
    return reinterpret_cast<Item *>(reinterpret_cast<char *>(n) -
                                    offsetof(Item, node));
}

using Model = std::multiset<std::pair<uint64_t, int>>;

// Checks everything that must hold between operations. Returns a gtest
// failure (rather than aborting) so the failing seed and step are printed.
::testing::AssertionResult Consistent(const heap &h,
                                      const std::vector<Item> &items,
                                      const Model &model)
{
    if (tl_heap_size(&h) != model.size())
        return ::testing::AssertionFailure()
               << "size " << tl_heap_size(&h) << " != model " << model.size();
    if (h.len > h.cap)
        return ::testing::AssertionFailure() << "len > cap";
    for (size_t i = 0; i < h.len; i++) {
        if (h.nodes[i]->index != i)
            return ::testing::AssertionFailure()
                   << "nodes[" << i << "]->index == " << h.nodes[i]->index;
        if (i > 0 && h.nodes[(i - 1) / 2]->key > h.nodes[i]->key)
            return ::testing::AssertionFailure()
                   << "heap order broken at " << i;
    }
    size_t in = 0;
    for (const Item &it : items) {
        bool modelled = model.count({it.node.key, it.id}) > 0;
        if (heap_contains(&it.node)) {
            in++;
            if (!modelled)
                return ::testing::AssertionFailure()
                       << "item " << it.id << " in heap but not in model";
            if (h.nodes[it.node.index] != &it.node)
                return ::testing::AssertionFailure()
                       << "item " << it.id << " index points elsewhere";
        } else if (modelled) {
            return ::testing::AssertionFailure()
                   << "item " << it.id << " in model but not in heap";
        }
    }
    if (in != model.size())
        return ::testing::AssertionFailure() << "membership count mismatch";
    heap_node *top = tl_heap_top(&h);
    if ((top == nullptr) != model.empty())
        return ::testing::AssertionFailure() << "top/emptiness mismatch";
    if (top != nullptr && top->key != model.begin()->first)
        return ::testing::AssertionFailure()
               << "top key " << top->key << " != min " << model.begin()->first;
    return ::testing::AssertionSuccess();
}

class HeapTest : public ::testing::Test {
protected:
    void SetUp() override { tl_heap_init(&h_); }
    void TearDown() override { tl_heap_destroy(&h_); }

    // Items are allocated once, up front: the heap stores pointers into
    // |items_|, so the vector must never reallocate while they are in it.
    void MakeItems(int n)
    {
        items_.resize(static_cast<size_t>(n));
        for (int i = 0; i < n; i++) {
            items_[static_cast<size_t>(i)].id = i;
            tl_heap_node_init(&items_[static_cast<size_t>(i)].node);
        }
    }

    void Push(int id, uint64_t key)
    {
        Item &it = items_[static_cast<size_t>(id)];
        ASSERT_EQ(0, tl_heap_push(&h_, &it.node, key));
        model_.insert({key, id});
    }

    heap h_;
    std::vector<Item> items_;
    Model model_;
};

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

// Random operation sequences against the model. Keys come from a narrow
// range in some runs (many ties, the tricky case for sifting) and the full
// 64-bit range in others.
class HeapRandomTest : public HeapTest,
                       public ::testing::WithParamInterface<
                           std::pair<uint32_t, uint64_t>> {};

TEST_P(HeapRandomTest, MatchesMultisetModel)
{
    const uint32_t seed = GetParam().first;
    const uint64_t key_range = GetParam().second; // 0: full 64-bit range
    const int kItems = 300;
    const int kOps = 5000; // per seed; each op is followed by a full check
    std::mt19937_64 rng(seed);
    auto random_key = [&]() -> uint64_t {
        uint64_t k = rng();
        return key_range == 0 ? k : k % key_range;
    };
    MakeItems(kItems);

    for (int step = 0; step < kOps; step++) {
        Item &it = items_[static_cast<size_t>(rng() % kItems)];
        const uint64_t old_key = it.node.key;
        const bool was_in = heap_contains(&it.node);
        switch (rng() % 5) {
        case 0: // push (or re-key, if it is already in: push would assert)
        case 1: {
            uint64_t k = random_key();
            if (was_in) {
                ASSERT_EQ(0, tl_heap_update(&h_, &it.node, k));
                model_.erase(model_.find({old_key, it.id}));
            } else {
                ASSERT_EQ(0, tl_heap_push(&h_, &it.node, k));
            }
            model_.insert({k, it.id});
            EXPECT_TRUE(heap_contains(&it.node));
            EXPECT_EQ(k, it.node.key);
            break;
        }
        case 2: { // update, which pushes if needed
            uint64_t k = random_key();
            ASSERT_EQ(0, tl_heap_update(&h_, &it.node, k));
            if (was_in)
                model_.erase(model_.find({old_key, it.id}));
            model_.insert({k, it.id});
            break;
        }
        case 3: // remove (a no-op when not in)
            tl_heap_remove(&h_, &it.node);
            if (was_in)
                model_.erase(model_.find({old_key, it.id}));
            EXPECT_FALSE(heap_contains(&it.node));
            break;
        case 4: { // pop
            heap_node *n = tl_heap_pop(&h_);
            if (model_.empty()) {
                ASSERT_EQ(nullptr, n);
                break;
            }
            ASSERT_NE(nullptr, n);
            ASSERT_EQ(model_.begin()->first, n->key);
            EXPECT_FALSE(heap_contains(n));
            model_.erase(model_.find({n->key, owner_of(n)->id}));
            break;
        }
        }
        ASSERT_TRUE(Consistent(h_, items_, model_))
            << "seed " << seed << " step " << step;
    }

    // Drain: pops come out in non-decreasing order and match the model.
    uint64_t prev = 0;
    while (heap_node *n = tl_heap_pop(&h_)) {
        ASSERT_LE(prev, n->key);
        ASSERT_EQ(model_.begin()->first, n->key);
        model_.erase(model_.find({n->key, owner_of(n)->id}));
        prev = n->key;
    }
    EXPECT_TRUE(model_.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Seeds, HeapRandomTest,
    ::testing::Values(std::make_pair(1u, uint64_t{8}),
                      std::make_pair(2u, uint64_t{64}),
                      std::make_pair(3u, uint64_t{1000}),
                      std::make_pair(4u, uint64_t{0}),
                      std::make_pair(5u, uint64_t{2}),
                      std::make_pair(6u, uint64_t{0})));

} // namespace
