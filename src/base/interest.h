/* Readiness interest, as bits: what OpenSSL wants from a socket (ossl.h)
 * and what the assist watches it for (assist/assist.h). */
#ifndef TICKLESS_BASE_INTEREST_H
#define TICKLESS_BASE_INTEREST_H

#define IO_READ 0x1u
#define IO_WRITE 0x2u

#endif
