/* Error names and messages from the one TICKLESS_ERRNO_MAP list, version and
 * feature queries. */
#include "core/ossl.h"
#include "tickless/tickless.h"

/* Every error code with its name and message. */
typedef struct err_entry {
    int code;
    const char *name, *message;
} err_entry;

static const err_entry errors[] = {
    { 0, "TICKLESS_OK", "success" },
#define TICKLESS_ERR_ENTRY_(name, value, msg)                                  \
    { TICKLESS_ERR_##name, "TICKLESS_ERR_" #name, msg },
    TICKLESS_ERRNO_MAP(TICKLESS_ERR_ENTRY_)
#undef TICKLESS_ERR_ENTRY_
};

static const err_entry *err_find(int err)
{
    size_t i;

    for (i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
        if (errors[i].code == err)
            return &errors[i];
    return NULL;
}

const char *tickless_strerror(int err)
{
    const err_entry *e = err_find(err);

    return e != NULL ? e->message : "unknown error";
}

const char *tickless_err_name(int err)
{
    const err_entry *e = err_find(err);

    return e != NULL ? e->name : "TICKLESS_ERR_UNKNOWN";
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
