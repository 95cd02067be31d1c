// "localhost" reaches a server of either family in every mode and
// protocol, with the in-process servers (connect_test.cc has the server
// bound to IPv4 only; ConnectPeer the external peers, dedicated mode):
//  - bound to [::1] only: whichever family the resolver gives first;
//  - dual-stack on [::]: through either address alone (IPv4 reaches it as
//    ::ffff:127.0.0.1), both orders, and the machine's own resolver.
#include "connect_fixture.h"

#include <string>

namespace {

class ConnectAddressFamily : public ConnectFixture {
protected:
    // Connects to localhost:|port| as |addrs| resolve it (nullptr: the
    // machine's resolver), checks an echo, closes.
    void ConnectsAs(const char *addrs, const std::string &port)
    {
        SCOPED_TRACE(addrs != nullptr ? addrs : "the machine's resolver");
        if (addrs != nullptr)
            tl_connect_set_resolve_override("localhost", addrs);
        tickless_conn *c = nullptr;
        int rc = ConnectTo("localhost", port, &c);
        tl_connect_set_resolve_override(nullptr, nullptr);
        ASSERT_EQ(rc, 0) << tickless_err_name(rc) << ": " << err_.message;
        EXPECT_EQ(err_.code, 0);
        ExpectEcho(c);
        tickless_conn_close(c);
    }
};

TEST_P(ConnectAddressFamily, LocalhostReachesIpv6OnlyServer)
{
    ts_server *srv = StartServerOn(Proto(), TS_NET_V6);
    ASSERT_NE(srv, nullptr);
    // The common order, then IPv4 first (a host that prefers it): its
    // attempt is refused, or for UDP overtaken, and ::1 connects.
    for (const char *addrs : { "::1,127.0.0.1", "127.0.0.1,::1" })
        ConnectsAs(addrs, PortOf(srv));
    ts_server_stop(srv);
}

TEST_P(ConnectAddressFamily, LocalhostReachesDualStackServer)
{
    ts_server *srv = StartServerOn(Proto(), TS_NET_DUAL);
    ASSERT_NE(srv, nullptr);
    for (const char *addrs :
         { "::1", "127.0.0.1", "::1,127.0.0.1", "127.0.0.1,::1" })
        ConnectsAs(addrs, PortOf(srv));
    ConnectsAs(nullptr, PortOf(srv));
    ts_server_stop(srv);
}

INSTANTIATE_TEST_SUITE_P(All, ConnectAddressFamily, AllVariants(),
                         VariantName);

} // namespace
