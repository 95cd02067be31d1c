/* options: a caller's options struct over the library's defaults.
 *
 * Every public options struct begins with `size_t size`, which its
 * *_defaults() function sets to the size the caller was built with. A
 * caller built against an older header passes a smaller struct: the fields
 * it lacks keep their defaults. A newer, larger one is accepted too; its
 * extra fields are not known here. */
#ifndef TICKLESS_BASE_OPTIONS_H
#define TICKLESS_BASE_OPTIONS_H

#include <stddef.h>
#include <string.h>

#include "tickless/tickless.h"

/* Copies what |in| (NULL: none) has of |out|'s fields over |out|, which
 * holds the defaults and is |out_size| bytes, and sets out's size to
 * |out_size|. Returns 0, or TICKLESS_ERR_INVALID when |in| is smaller
 * than |min| bytes (the fields every caller must have). */
static inline int tl_options_read(void *out, size_t out_size, const void *in,
                                  size_t min)
{
    size_t in_size;

    if (in == NULL)
        return 0;
    memcpy(&in_size, in, sizeof(in_size));
    if (in_size < min)
        return TICKLESS_ERR_INVALID;
    memcpy(out, in, in_size < out_size ? in_size : out_size);
    memcpy(out, &out_size, sizeof(out_size));
    return 0;
}

#endif
