/* The built-in VMM's control socket (`kata-vmm --api-socket PATH`), modelled
 * on Cloud Hypervisor's REST API over a unix socket:
 *
 *   GET  /api/v1/vmm.ping        200 {"version": ...}
 *   PUT  /api/v1/vm.create       the configuration (api_config.h)       204
 *   PUT  /api/v1/vm.add-disk     {"path", "readonly", "id"}, before boot 204
 *   PUT  /api/v1/vm.add-vsock    {"cid", "socket"}, before boot         204
 *   PUT  /api/v1/vm.add-fs       {"socket", "tag"}, before boot          204
 *   PUT  /api/v1/vm.boot         204
 *   PUT  /api/v1/vm.pause        204 (every vCPU parked)
 *   PUT  /api/v1/vm.resume       204
 *   GET  /api/v1/vm.info         200 {"state": "Created|Running|Paused|Shutdown", "config": {...}}
 *   PUT  /api/v1/vm.shutdown     204: the VM stops, kata-vmm exits
 *   PUT  /api/v1/vmm.shutdown    204: the same, also before a VM exists
 *
 * Errors are {"error": "..."} with 400 (bad request or configuration), 404,
 * 405, 409 (not in a state for it) or 500 (the VM could not be built).  When
 * the guest powers off the VM is over: the API reports done and kata-vmm exits,
 * as Firecracker does.  Requests are served one at a time on the caller's
 * loop; the VM runs on threads of its own. */
#ifndef KATA_VMM_API_H
#define KATA_VMM_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api_http.h"
#include "error.h"
#include "loop.h"

struct vmm_api;

struct vmm_api *vmm_api_new(struct loop *loop, const char *socket_path, bool seccomp,
                            void (*console)(void *ctx, const uint8_t *bytes, size_t len),
                            void *console_ctx, struct kerr **err);
/* Stops a running VM, closes every connection, removes the socket. */
void vmm_api_free(struct vmm_api *api);

/* The VM ended (guest power-off, vm.shutdown, vmm.shutdown, or a failure):
 * the caller's loop may stop.  The exit status (vmm_exit.h): 0 after a
 * power-off or a stop, 1 when the VM could not be built, 3 to 5 when the
 * guest reset or crashed or a vCPU failed. */
bool vmm_api_done(const struct vmm_api *api);
int vmm_api_exit_status(const struct vmm_api *api);
/* Stop the VM from outside (kata-vmm's SIGTERM). */
void vmm_api_shutdown(struct vmm_api *api);

/* One request: the HTTP status, *body the JSON answer (malloc'd) or NULL. */
int vmm_api_handle(struct vmm_api *api, const struct http_request *req, char **body);

#endif
