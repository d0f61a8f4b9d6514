#ifndef CARTHUB_CHIREDIS_SHIM_H
#define CARTHUB_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <sys/ioctl.h>

/* Bytes waiting in a socket's receive queue (ioctl is variadic: Swift cannot call it). */
static inline int carthub_bytes_readable(int fd) {
    int n = 0;
    return ioctl(fd, FIONREAD, &n) == 0 ? n : 0;
}

/* Whether the async connect has completed (REDIS_CONNECTED is a macro). */
static inline int carthub_redis_is_connected(const redisAsyncContext *ac) {
    return (ac->c.flags & REDIS_CONNECTED) != 0;
}

/* Reply type tags are macros; Swift sees them through these. */
static inline int carthub_reply_string(void) { return REDIS_REPLY_STRING; }
static inline int carthub_reply_array(void) { return REDIS_REPLY_ARRAY; }
static inline int carthub_reply_integer(void) { return REDIS_REPLY_INTEGER; }
static inline int carthub_reply_nil(void) { return REDIS_REPLY_NIL; }
static inline int carthub_reply_status(void) { return REDIS_REPLY_STATUS; }
static inline int carthub_reply_error(void) { return REDIS_REPLY_ERROR; }
#endif
