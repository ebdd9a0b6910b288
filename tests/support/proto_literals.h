/* protobuf-c string fields are `char *`; tests fill them with literals that
 * are never written through.  Include after the other headers: it silences
 * the const-discarding diagnostic for the rest of the file, for gcc and
 * clang (which name it differently). */
#ifndef AD_TEST_PROTO_LITERALS_H
#define AD_TEST_PROTO_LITERALS_H
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wincompatible-pointer-types-discards-qualifiers"
#else
#pragma GCC diagnostic ignored "-Wdiscarded-qualifiers"
#endif
#endif
