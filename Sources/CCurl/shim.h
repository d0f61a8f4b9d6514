#ifndef CARTHUB_CCURL_SHIM_H
#define CARTHUB_CCURL_SHIM_H

#include <curl/curl.h>

// curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call:
// one typed helper per argument type the SMTP client uses. Each passes exactly the
// type libcurl reads for that option class (long, char *, void *, struct curl_slist *,
// the read callback), never a Swift Int where a long is expected by accident.

typedef size_t (*carthub_curl_read_callback)(char *buffer, size_t size, size_t nitems, void *userdata);

static inline CURLcode carthub_curl_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}

/// libcurl copies strings it is given (since 7.17), so the argument need only live for the call.
static inline CURLcode carthub_curl_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}

/// For CURLOPT_READDATA and CURLOPT_ERRORBUFFER: libcurl keeps the pointer, the caller owns the memory.
static inline CURLcode carthub_curl_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}

/// For CURLOPT_MAIL_RCPT: libcurl keeps the list pointer until the transfer ends.
static inline CURLcode carthub_curl_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode carthub_curl_setopt_read_function(CURL *handle, carthub_curl_read_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_READFUNCTION, callback);
}

static inline CURLcode carthub_curl_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}

/// CURL_GLOBAL_DEFAULT is a macro expression Swift does not import.
static inline CURLcode carthub_curl_global_init(void) {
    return curl_global_init(CURL_GLOBAL_DEFAULT);
}

static inline size_t carthub_curl_error_size(void) { return CURL_ERROR_SIZE; }

static inline size_t carthub_curl_readfunc_abort(void) { return CURL_READFUNC_ABORT; }

#endif
