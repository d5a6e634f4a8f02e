/* Without a shared file system (shared_fs = "none") a container's bind
 * mounts of host files reach the guest as copies made with the agent's
 * CopyFile (as Kata does); a directory or anything else is refused, since a
 * copy could not follow it. */
#include "agent.pb-c.h"
#include "shim.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define COPY_CHUNK   (1u << 20) /* below the agent's 4 MiB per call */
#define COPY_CALL_NS (30ull * 1000000000ull)

int guest_copy_file(struct shim *shim, const char *host, const char *guest, struct kerr **err)
{
    /* O_NONBLOCK: a FIFO fails below instead of blocking the daemon here. */
    cleanup_close int fd = open(host, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return kerr_make(err, errno, "copy `%s` into the VM", host);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return kerr_make(err, errno, "copy `%s` into the VM", host);
    if (!S_ISREG(st.st_mode))
        return kerr_make(err, ENOTSUP,
                         "`%s` is not a regular file: without a shared file system "
                         "(shared_fs = \"none\") only files are copied into the VM",
                         host);
    cleanup_free uint8_t *buf = xmalloc(COPY_CHUNK);
    Grpc__CopyFileRequest req = GRPC__COPY_FILE_REQUEST__INIT;
    req.path = (char *)guest;
    req.file_size = st.st_size;
    req.file_mode = st.st_mode;
    req.dir_mode = 0755;
    req.uid = (int32_t)st.st_uid;
    req.gid = (int32_t)st.st_gid;
    off_t offset = 0;
    do {
        ssize_t n = pread(fd, buf, COPY_CHUNK, offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return kerr_make(err, errno, "copy `%s` into the VM: read", host);
        if (offset + n > st.st_size)
            n = st.st_size - offset; /* it grew meanwhile: copy what it was */
        req.offset = offset;
        req.data.data = buf;
        req.data.len = (size_t)n;
        if (agent_call(shim, "CopyFile", &req.base, NULL, NULL, COPY_CALL_NS, err) < 0)
            return kerr_wrap(err, "copy `%s` into the VM", host);
        offset += n;
        if (n == 0 && offset < st.st_size)
            return kerr_make(err, EIO, "copy `%s` into the VM: it shrank while copied", host);
    } while (offset < st.st_size);
    return 0;
}
