/* The public header as a strict C99 translation unit in the C89 style
 * (no declarations after statements, no // comments, no VLAs): a project on
 * an old compiler or a conservative style guide can include it. Built with
 * -std=c99 -pedantic-errors -Wdeclaration-after-statement -Werror. */
#include <tickless/tickless.h>

int header_c99_uses_the_api(void);

int header_c99_uses_the_api(void)
{
    tickless_stats st = TICKLESS_STATS_INIT;
    tickless_error_info info = TICKLESS_ERROR_INFO_INIT;
    struct tickless_pool_stats ps = TICKLESS_POOL_STATS_INIT;
    tickless_pool_options opts;

    tickless_pool_options_defaults(&opts);
    return (int)(st.size + info.size + ps.size + opts.size)
           + TICKLESS_ERR_FORKED + TICKLESS_FOREVER;
}
