/* The byte streams ttrpc runs over: unix sockets, AF_VSOCK, the hybrid-vsock
 * unix socket of Cloud Hypervisor / Firecracker / the built-in VMM, and
 * virtio-serial ports found by name. */
#ifndef KATA_CHANNEL_H
#define KATA_CHANNEL_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "error.h"

/* The agent's vsock port, and the virtio-serial port name, as Kata uses them. */
#define AGENT_VSOCK_PORT  1024
#define AGENT_SERIAL_NAME "agent.channel.0"

/* Bind and listen on a unix socket, replacing a stale socket file. */
int unix_listen(const char *path, struct kerr **err);
int unix_connect(const char *path, struct kerr **err);

int vsock_listen(uint32_t port, struct kerr **err);
int vsock_connect(uint32_t cid, uint32_t port, struct kerr **err);

/* Connect through a hybrid-vsock socket: write "CONNECT <port>\n", expect "OK <n>\n". */
int hybrid_vsock_connect(const char *path, uint32_t port, struct kerr **err);

/* Find the character device of the virtio-serial port called name by scanning
 * sysfs_root/class/virtio-ports/<vportNpM>/name ("/sys" normally).  Returns a
 * malloc'd "/dev/vportNpM". */
char *serial_port_find(const char *sysfs_root, const char *name, struct kerr **err);

/* sendmsg(iov) on a unix socket with fd attached as SCM_RIGHTS when fd >= 0
 * (MSG_NOSIGNAL, retried on EINTR).  The bytes sent, or -1 with errno. */
ssize_t unix_send_with_fd(int sock, const struct iovec *iov, size_t iovcnt, int fd);

#endif
