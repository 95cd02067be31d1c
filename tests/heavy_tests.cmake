# Tests that keep both cores busy for seconds (thousands of handshakes, or
# many threads echoing at once). ctest runs most tests several at a time,
# because they spend their time waiting on timers and the network; these
# count as two of its job slots, so they never pile up on each other.
# Read by ctest after the discovered test lists; a name that does not exist
# in this build (no QUIC on OpenSSL 3.0) is ignored.
foreach(name
    PoolIdleScale.TwoThousandIdleQuicConnectionsOnOneThread
    PoolStress.RandomAttachEchoCloseOnOneSharedPool)
  set_tests_properties(${name} PROPERTIES PROCESSORS 2)
endforeach()
# A TEST_P's ctest name ends with its parameter as gtest lists it,
# "Suite.Test/Pool1  # GetParam() = Pool1": without that tail the name
# matches nothing, and is ignored as silently as a missing one.
foreach(test
    Clients/EchoService.FiftyClientsFourStreamsEach
    Clients/EchoService.FourWorkersServeTwoHundredClientsBesideASlowOne
    Clients/EchoServiceInterop.AioquicThirtyTwoStreamsAtOnceOnOneConnection
    AllModes/QuicInteropClient.AioquicEchoServerThirtyTwoStreams
    AllModes/DtlsListenerInterop.FiftyOpensslAndGnutlsClientsSomeThroughLoss)
  foreach(mode Dedicated Pool1 Pool2 AppDriven)
    set_tests_properties("${test}/${mode}  # GetParam() = ${mode}"
                         PROPERTIES PROCESSORS 2)
  endforeach()
endforeach()
