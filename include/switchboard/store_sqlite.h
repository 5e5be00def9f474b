/* The SQLite backend of the registration store: one switchboard's
 * bindings in one file (WAL mode), written behind by the persister. */
#ifndef SWITCHBOARD_STORE_SQLITE_H
#define SWITCHBOARD_STORE_SQLITE_H

#include <stdint.h>

#include "switchboard/store_backend.h"

/* Opens the SQLite backend on @path (WAL mode). An unreadable or corrupt
 * file is moved aside to PATH.corrupt-<timestamp> and a new one started;
 * returns 0, or a negative code when no file can be opened at all (then the
 * caller may retry later). */
int store_sqlite_open(const char *path, struct store_backend *out);

/* Reads @path without writing to it (a store in a read-only place): every
 * binding that expires after @now_wall_ms. Returns 0 or a negative code. */
int store_sqlite_peek(const char *path, uint64_t now_wall_ms, store_load_fn fn, void *arg);

#endif
