/* Built outside the tree against an installed tickless, by pkg-config and by
 * find_package(tickless): proves the installed header, library, tickless.pc
 * and CMake package are complete and agree with each other, and that
 * tickless_features() says what the README promises for the OpenSSL whose
 * headers this program sees (the one tickless was built against). */
#include <stdio.h>
#include <string.h>

#include <openssl/opensslv.h>
#include <openssl/ssl.h>
#include <tickless/tickless.h>

/* README, "Which OpenSSL": 3.0 and 3.1 give DTLS and TLS; 3.2 adds QUIC
 * clients (and SSL_handle_events); 3.5 adds QUIC servers. */
static unsigned expected_features(void)
{
    unsigned f = 0;

#if OPENSSL_VERSION_NUMBER >= 0x30200000L
    f |= TICKLESS_FEATURE_HANDLE_EVENTS;
# ifndef OPENSSL_NO_QUIC
    f |= TICKLESS_FEATURE_QUIC;
#  if OPENSSL_VERSION_NUMBER >= 0x30500000L
    f |= TICKLESS_FEATURE_QUIC_SERVER;
#  endif
# endif
#endif
    return f;
}

int main(void)
{
    if (tickless_version() != TICKLESS_VERSION_NUMBER) {
        fprintf(stderr, "header %s but library %u\n", TICKLESS_VERSION_STRING,
                tickless_version());
        return 1;
    }
    if (strcmp(tickless_err_name(TICKLESS_ERR_TIMEOUT), "TICKLESS_ERR_TIMEOUT")
        != 0)
        return 1;
    if (tickless_conn_new(NULL, NULL, NULL) != TICKLESS_ERR_INVALID)
        return 1;
    if (tickless_features() != expected_features()) {
        fprintf(stderr, "%s: tickless_features() 0x%x, expected 0x%x\n",
                OPENSSL_VERSION_TEXT, tickless_features(), expected_features());
        return 1;
    }
    printf("tickless %s ok (%s, features 0x%x)\n", TICKLESS_VERSION_STRING,
           OPENSSL_VERSION_TEXT, tickless_features());
    return 0;
}
