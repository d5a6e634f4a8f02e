/* A client of the built-in VMM's control socket (src/vmm/api.h): one HTTP
 * request per connection ("Connection: close"), JSON in and out. */
#ifndef KATA_DRAGONBALL_API_H
#define KATA_DRAGONBALL_API_H

#include <stdint.h>

#include "error.h"

/* METHOD path with an optional JSON body.  Returns the HTTP status with
 * *answer the response body (malloc'd; may be NULL), or -1 with err when the
 * socket failed.  A status >= 400 also fills err with the VMM's message. */
int dragonball_api_call(const char *socket_path, const char *method, const char *path,
                        const char *body, char **answer, uint64_t timeout_ns, struct kerr **err);

#endif
