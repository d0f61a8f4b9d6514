#ifndef CARTHUB_CLIBUV_SHIM_H
#define CARTHUB_CLIBUV_SHIM_H
#include <uv.h>
#endif
