// The public header from C++ (C++98, 11 and 17 are each built): its
// declarations must have C linkage and its initialiser macros must be valid
// C++ too. Built with -pedantic-errors -Werror.
#include <tickless/tickless.h>

int header_cxx_uses_the_api()
{
    tickless_stats st = TICKLESS_STATS_INIT;
    tickless_error_info info = TICKLESS_ERROR_INFO_INIT;
    struct tickless_pool_stats ps = TICKLESS_POOL_STATS_INIT;
    tickless_pool_options opts;
    int (*read_fn)(tickless_conn *, void *, size_t, size_t *, int) =
        tickless_conn_read;

    tickless_pool_options_defaults(&opts);
    return static_cast<int>(st.size + info.size + ps.size + opts.size)
           + (read_fn != 0 ? 1 : 0);
}
