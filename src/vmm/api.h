/* The built-in VMM's control socket (`kata-vmm --api-socket PATH`): Cloud
 * Hypervisor's REST API over a unix socket, with the request and answer
 * shapes of its OpenAPI document (api_config.h) and its status codes:
 *
 *   GET  /api/v1/vmm.ping          200 VmmPingResponse
 *   PUT  /api/v1/vm.create         VmConfig; 204, 409 when a VM exists
 *   PUT  /api/v1/vm.add-disk       DiskConfig  204 (before boot: virtio-mmio
 *   PUT  /api/v1/vm.add-fs         FsConfig    204  does not hotplug; after,
 *   PUT  /api/v1/vm.add-net        NetConfig   204  500 saying so); 409 for
 *   PUT  /api/v1/vm.add-vsock      VsockConfig 204  an id in use
 *        (vm.add-net takes the tap's fd sent with the request, SCM_RIGHTS)
 *   PUT  /api/v1/vm.remove-device  VmRemoveDevice; 204 before boot, 404 for an unknown id
 *   PUT  /api/v1/vm.resize         VmResize; before boot the configuration, after only the
 *                                  current size (no hotplug): 204, else 400
 *   PUT  /api/v1/vm.boot, vm.pause, vm.resume, vm.shutdown   204
 *   PUT  /api/v1/vm.delete         204: a VM not booted is forgotten
 *   GET  /api/v1/vm.info           200 VmInfo {config, state, memory_actual_size,
 *                                  device_tree}
 *   PUT  /api/v1/vmm.shutdown      204: the VM stops, kata-vmm exits
 *   PUT  /api/v1/vm.update-disk    kata-vmm's: another file behind disk `id`
 *   GET  /api/v1/vm.disk-states    kata-vmm's: {"disks": [{id, path, readonly, sectors,
 *                                  guest_seen}]} of the built VM
 *
 * Errors are {"error": "..."}: 400 for a body the document does not allow
 * or kata-vmm does not support (naming the field: "vm.create:
 * disks[0].vhost_user: ..."), 404 before vm.create (and for an unknown
 * device id), 405 in the wrong state (vm.pause of a VM not running), 409, 500
 * when the VM cannot be built or a device not added, 501 for the document's
 * endpoints kata-vmm does not implement (vm.snapshot ...).  vm.shutdown ends
 * kata-vmm too: when the VM is over (guest power-off, vm.shutdown,
 * vmm.shutdown, a failure) the API reports done and kata-vmm exits, as
 * Firecracker does.  Requests are served one at a time on the caller's loop;
 * the VM runs on threads of its own. */
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
/* Serve Firecracker's API instead (`kata-vmm --api-sock PATH --id ID`; see
 * docs/vmm.md): its routes (GET /, PUT /machine-config, /boot-source,
 * /drives/{id}, /network-interfaces/{id}, /vsock, /logger, /metrics,
 * /actions; PATCH /drives/{id}, /vm), its bodies (tests/fc_api/schema.json)
 * and its errors, {"fault_message": "..."} with 400 for a bad request or
 * one the state does not allow.  They build the same configuration as
 * Cloud Hypervisor's routes; id is InstanceInfo's (NULL: Firecracker's
 * "anonymous-instance"). */
void vmm_api_set_firecracker(struct vmm_api *api, const char *id);
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
/* The same with the file descriptors sent with it: vm.add-net takes one
 * (setting it to -1), the caller closes the others. */
int vmm_api_handle_fds(struct vmm_api *api, const struct http_request *req, int *fds, unsigned nfds,
                       char **body);

#endif
