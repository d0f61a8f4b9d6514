#ifndef CARTHUB_CLIBPQ_SHIM_H
#define CARTHUB_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
