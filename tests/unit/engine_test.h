// The gtest fixture of the unit tests that drive an engine and its shard
// (decide_test.cc, tick_test.cc, waitq_test.cc, shard_batch_test.cc):
// both made on a clock the test sets,
// torn down whatever the test did.
#ifndef TICKLESS_TESTS_ENGINE_TEST_H
#define TICKLESS_TESTS_ENGINE_TEST_H

#include <gtest/gtest.h>

#include <cstdint>

#include "engine_fixture.h"

constexpr uint64_t kNever = UINT64_MAX;
constexpr uint64_t kMs = 1000000;

// What tl_conn_decide() said.
struct Decision {
    uint64_t seq = 0;
    uint64_t deadline = 0;
    unsigned interest = 0;
};

struct EngineTest : testing::Test {
    fx_shard *shard = nullptr;
    fx_engine *engine = nullptr;

    // An engine attached to a shard; the clock starts at |start_ns|.
    void Make(bool quic, uint64_t start_ns = 1000 * kMs)
    {
        fx_clock_ns = start_ns;
        shard = fx_shard_new();
        ASSERT_NE(shard, nullptr);
        engine = fx_engine_new(quic);
        ASSERT_NE(engine, nullptr);
        ASSERT_EQ(fx_attach(shard, engine), 0);
    }

    Decision DecideNow()
    {
        Decision d;
        d.seq = fx_decide(engine, &d.deadline, &d.interest);
        return d;
    }

    void TearDown() override
    {
        if (engine != nullptr) {
            fx_detach(shard, engine);
            fx_engine_free(engine);
        }
        if (shard != nullptr)
            fx_shard_free(shard);
    }
};

#endif
