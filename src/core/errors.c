/* Error names and messages from the one TICKLESS_ERRNO_MAP list, version and
 * feature queries. */
#include "core/ossl.h"
#include "tickless/tickless.h"

const char *tickless_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
#define TICKLESS_STRERROR_CASE_(name, value, msg)                              \
    case TICKLESS_ERR_##name:                                                  \
        return msg;
        TICKLESS_ERRNO_MAP(TICKLESS_STRERROR_CASE_)
#undef TICKLESS_STRERROR_CASE_
    default:
        return "unknown error";
    }
}

const char *tickless_err_name(int err)
{
    switch (err) {
    case 0:
        return "TICKLESS_OK";
#define TICKLESS_ERR_NAME_CASE_(name, value, msg)                              \
    case TICKLESS_ERR_##name:                                                  \
        return "TICKLESS_ERR_" #name;
        TICKLESS_ERRNO_MAP(TICKLESS_ERR_NAME_CASE_)
#undef TICKLESS_ERR_NAME_CASE_
    default:
        return "TICKLESS_ERR_UNKNOWN";
    }
}

unsigned tickless_features(void)
{
    unsigned f = 0;

#ifdef TICKLESS_HAVE_HANDLE_EVENTS
    f |= TICKLESS_FEATURE_HANDLE_EVENTS;
#endif
#ifdef TICKLESS_HAVE_QUIC
    f |= TICKLESS_FEATURE_QUIC;
#endif
#ifdef TICKLESS_HAVE_QUIC_SERVER
    f |= TICKLESS_FEATURE_QUIC_SERVER;
#endif
    return f;
}

unsigned tickless_version(void)
{
    return TICKLESS_VERSION_NUMBER;
}
