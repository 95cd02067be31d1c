# Tests that keep both cores busy for seconds (thousands of handshakes, or
# many threads echoing at once). ctest runs most tests several at a time,
# because they spend their time waiting on timers and the network; these
# count as two of its job slots, so they never pile up on each other.
# Read by ctest after the discovered test lists; a name that does not exist
# in this build (no QUIC on OpenSSL 3.0) is ignored.
foreach(name
    PoolIdleScale.TwoThousandIdleQuicConnectionsOnOneThread
    PoolStress.RandomAttachEchoCloseOnOneSharedPool
    Clients/EchoService.FiftyClientsFourStreamsEach/Dedicated
    Clients/EchoService.FiftyClientsFourStreamsEach/Pool1
    Clients/EchoService.FiftyClientsFourStreamsEach/Pool2
    Clients/EchoService.FiftyClientsFourStreamsEach/AppDriven
    AllModes/QuicInteropClient.AioquicEchoServerThirtyTwoStreams/Dedicated
    AllModes/QuicInteropClient.AioquicEchoServerThirtyTwoStreams/Pool1
    AllModes/QuicInteropClient.AioquicEchoServerThirtyTwoStreams/Pool2
    AllModes/QuicInteropClient.AioquicEchoServerThirtyTwoStreams/AppDriven)
  set_tests_properties(${name} PROPERTIES PROCESSORS 2)
endforeach()
