// The fixture of the timer heap's unit tests (heap_test.cc,
// heap_random_test.cc): a heap of items, each embedding its node as a
// connection embeds its timer, checked against a trivially correct model
// (a std::multiset of (key, item) pairs). Consistent() verifies the heap's
// internal invariants (every node knows its slot; parents are never larger
// than their children) and its agreement with the model.
#ifndef TICKLESS_TESTS_HEAP_FIXTURE_H
#define TICKLESS_TESTS_HEAP_FIXTURE_H

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <set>
#include <utility>
#include <vector>

extern "C" {
#include "assist/heap.h"
}


// An owner with an embedded node, as a connection embeds its timer.
struct Item {
    int id;
    heap_node node;
};

inline Item *owner_of(heap_node *n)
{
    return reinterpret_cast<Item *>(reinterpret_cast<char *>(n) -
                                    offsetof(Item, node));
}

using Model = std::multiset<std::pair<uint64_t, int>>;

// Checks everything that must hold between operations. Returns a gtest
// failure (rather than aborting) so the failing seed and step are printed.
inline ::testing::AssertionResult
Consistent(const heap &h, const std::vector<Item> &items, const Model &model)
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

class HeapFixture : public ::testing::Test {
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

#endif
