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

# The longest tests (5 to 22 s in a plain build), with their seconds as
# their cost: ctest starts the costliest first. It learns costs from earlier
# runs, but CI's build is always new, and a long test started last would
# leave the run waiting on it alone. (The bench's smoke tests have theirs
# in bench/CMakeLists.txt.)
function(tickless_test_cost cost)
  foreach(name ${ARGN})
    set_tests_properties("${name}" PROPERTIES COST ${cost})
  endforeach()
endfunction()
function(tickless_mode_test_cost cost test)
  foreach(mode Dedicated Pool1 Pool2 AppDriven)
    tickless_test_cost(${cost} "${test}/${mode}  # GetParam() = ${mode}")
  endforeach()
endfunction()
tickless_mode_test_cost(21
  Clients/EchoServiceInterop.AioquicSixtyFourConnectionsEightStreamsSomeReset)
tickless_test_cost(20 PoolStress.RandomAttachEchoCloseOnOneSharedPool)
tickless_test_cost(16
  "AllModes/NetFaults.DeliveredIntactOrReportedNeverHung/AppDriven_QUIC_Loss30  # GetParam() = AppDriven_QUIC_Loss30")
tickless_test_cost(12 PoolIdleScale.TwoThousandIdleQuicConnectionsOnOneThread)
tickless_test_cost(10 Idle.QuicSurvivesFiveIdleTimeoutsWhileApplicationSleeps)
tickless_mode_test_cost(10
  AllModes/DtlsListenerInterop.FiftyOpensslAndGnutlsClientsSomeThroughLoss)
tickless_mode_test_cost(8
  Clients/EchoServiceInterop.AioquicThirtyTwoStreamsAtOnceOnOneConnection)
foreach(proto TLS DTLS QUIC)
  tickless_test_cost(7 "Race/ConnectSysFail.EachCallFailingInTurnIsCleanAndLeavesNothing/Dedicated_${proto}  # GetParam() = Dedicated_${proto}")
endforeach()
tickless_mode_test_cost(7 AllModes/BlackOut.QuicTransferResumesIntactAfterFiveSeconds)
tickless_mode_test_cost(6 AllModes/QuicInteropClient.AioquicEchoServerThirtyTwoStreams)
