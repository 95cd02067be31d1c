/* Built outside the tree against an installed tickless, by pkg-config and by
 * find_package(tickless): proves the installed header, library, tickless.pc
 * and CMake package are complete and agree with each other. */
#include <stdio.h>
#include <string.h>

#include <tickless/tickless.h>

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
    printf("tickless %s ok\n", TICKLESS_VERSION_STRING);
    return 0;
}
