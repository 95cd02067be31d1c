// Unit tests for src/assist/heap.c, the assist's timer heap, over long
// random operation sequences: checked against a trivially correct model
// (heap_fixture.h), with the heap's internal invariants verified after every
// single operation, so a bug is reported at the operation that introduced it
// rather than many steps later.

#include "heap_fixture.h"

#include <cstdint>
#include <random>
#include <utility>

namespace {

// Random operation sequences against the model. Keys come from a narrow
// range in some runs (many ties, the tricky case for sifting) and the full
// 64-bit range in others.
class HeapRandomTest : public HeapFixture,
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
