#ifndef CARTHUB_CLIBWEBSOCKETS_SHIM_H
#define CARTHUB_CLIBWEBSOCKETS_SHIM_H
#include <libwebsockets.h>

/* Macros Swift cannot import, as functions. */
static inline size_t carthub_lws_pre(void) { return LWS_PRE; }
static inline uint64_t carthub_lws_option_libuv(void) { return LWS_SERVER_OPTION_LIBUV; }
static inline uint64_t carthub_lws_option_validate_utf8(void) { return LWS_SERVER_OPTION_VALIDATE_UTF8; }
static inline uint64_t carthub_lws_option_listen_share(void) { return LWS_SERVER_OPTION_ALLOW_LISTEN_SHARE; }
static inline uint64_t carthub_lws_option_ssl_init(void) { return LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT; }
static inline uint64_t carthub_lws_option_disable_ipv6(void) { return LWS_SERVER_OPTION_DISABLE_IPV6; }
static inline uint64_t carthub_lws_option_no_signals(void) { return LWS_SERVER_OPTION_UV_NO_SIGSEGV_SIGFPE_SPIN; }

/* OpenSSL option bits for a TLS vhost (libwebsockets.h includes <openssl/ssl.h>):
 * TLS 1.2 is the oldest version spoken, no compression, no renegotiation. */
static inline long carthub_ssl_options_tls12_minimum(void) {
    return (long)(SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1 | SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
}
#endif
