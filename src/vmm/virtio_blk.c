/* virtio-blk over a raw file with preadv/pwritev.  The request header is
 * copied out of guest memory once; the sector range is checked against the
 * disk's size; the status byte is the last writable byte of the chain.  The
 * backing file can be replaced while the guest runs (virtio_blk_replace):
 * requests and the swap both run under the device lock. */
#include "virtio_blk.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define VIRTIO_BLK_F_SEG_MAX (1ull << 2)
#define VIRTIO_BLK_F_RO      (1ull << 5)
#define VIRTIO_BLK_F_FLUSH   (1ull << 9)

#define VIRTIO_BLK_T_IN     0u
#define VIRTIO_BLK_T_OUT    1u
#define VIRTIO_BLK_T_FLUSH  4u
#define VIRTIO_BLK_T_GET_ID 8u

#define VIRTIO_BLK_S_OK     0u
#define VIRTIO_BLK_S_IOERR  1u
#define VIRTIO_BLK_S_UNSUPP 2u

#define SECTOR_SIZE 512u
#define REQUEST_HDR 16u /* type, reserved, sector */

struct virtio_blk {
    int fd;
    bool readonly;          /* now: writes answer IOERR */
    bool attached_readonly; /* at boot: VIRTIO_BLK_F_RO offered, for good */
    uint64_t sectors;
    char id[VIRTIO_BLK_ID_BYTES];
    char *path;
    struct virtq_chain chain;
};

/* preadv/pwritev until every byte moved; iov is consumed. */
static int transfer_all(int fd, bool write, struct iovec *iov, unsigned n, off_t offset)
{
    while (n > 0) {
        ssize_t done = write ? pwritev(fd, iov, (int)n, offset) : preadv(fd, iov, (int)n, offset);
        if (done < 0 && errno == EINTR)
            continue;
        if (done <= 0)
            return -1;
        offset += done;
        while (n > 0 && (size_t)done >= iov->iov_len) {
            done -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + done;
            iov->iov_len -= (size_t)done;
        }
    }
    return 0;
}

/* Data of `len` bytes at `sector`: the range must lie inside the disk. */
static bool range_ok(const struct virtio_blk *blk, uint64_t sector, uint64_t len)
{
    return len % SECTOR_SIZE == 0 && sector <= blk->sectors &&
           len / SECTOR_SIZE <= blk->sectors - sector;
}

/* One request; returns the bytes written into the chain (data + status). */
static uint32_t blk_request(struct virtio_blk *blk, struct virtq_chain *c)
{
    struct iovec iov[VIRTQ_CHAIN_MAX];
    uint8_t hdr[REQUEST_HDR];
    if (c->writable_len == 0)
        return 0; /* nowhere to put a status: nothing to answer */
    uint64_t status_at = c->writable_len - 1;
    uint8_t status = VIRTIO_BLK_S_IOERR;
    uint32_t written = 0;
    if (virtq_chain_read(c, 0, hdr, sizeof(hdr)) == sizeof(hdr)) {
        uint32_t type;
        uint64_t sector, covered = 0;
        memcpy(&type, hdr, 4);
        memcpy(&sector, hdr + 8, 8);
        switch (type) {
        case VIRTIO_BLK_T_IN: {
            uint64_t len = status_at;
            unsigned n = virtq_chain_iovec(c, true, 0, len, iov, VIRTQ_CHAIN_MAX, &covered);
            if (covered == len && range_ok(blk, sector, len) &&
                transfer_all(blk->fd, false, iov, n, (off_t)(sector * SECTOR_SIZE)) == 0) {
                status = VIRTIO_BLK_S_OK;
                written = (uint32_t)len;
            }
            break;
        }
        case VIRTIO_BLK_T_OUT: {
            uint64_t len = c->readable_len - REQUEST_HDR;
            unsigned n =
                virtq_chain_iovec(c, false, REQUEST_HDR, len, iov, VIRTQ_CHAIN_MAX, &covered);
            if (!blk->readonly && covered == len && range_ok(blk, sector, len) &&
                transfer_all(blk->fd, true, iov, n, (off_t)(sector * SECTOR_SIZE)) == 0)
                status = VIRTIO_BLK_S_OK;
            break;
        }
        case VIRTIO_BLK_T_FLUSH:
            if (blk->readonly || fdatasync(blk->fd) == 0)
                status = VIRTIO_BLK_S_OK;
            break;
        case VIRTIO_BLK_T_GET_ID: {
            uint64_t len = status_at < VIRTIO_BLK_ID_BYTES ? status_at : VIRTIO_BLK_ID_BYTES;
            written = (uint32_t)virtq_chain_write(c, 0, blk->id, len);
            status = VIRTIO_BLK_S_OK;
            break;
        }
        default:
            status = VIRTIO_BLK_S_UNSUPP;
            break;
        }
    }
    virtq_chain_write(c, status_at, &status, 1);
    return written + 1;
}

static void blk_queue_notify(struct virtio_mmio *dev, unsigned queue)
{
    struct virtio_blk *blk = dev->device;
    struct virtq *q = virtio_mmio_queue(dev, 0);
    cleanup_kerr struct kerr *err = NULL;
    bool used = false;
    if (q == NULL)
        return;
    for (;;) {
        int r = virtq_pop(q, &dev->mem, &blk->chain, &err);
        if (r < 0) {
            virtio_mmio_fail(dev, &err);
            break;
        }
        if (r == 0)
            break;
        uint32_t written = blk_request(blk, &blk->chain);
        if (virtq_push(q, &dev->mem, blk->chain.head, written, &err) < 0) {
            virtio_mmio_fail(dev, &err);
            break;
        }
        used = true;
    }
    if (used)
        virtio_mmio_used(dev, q);
}

static void blk_free(struct virtio_mmio *dev)
{
    struct virtio_blk *blk = dev->device;
    if (blk == NULL)
        return;
    if (blk->fd >= 0)
        close(blk->fd);
    free(blk->path);
    free(blk);
}

static const struct virtio_device_ops blk_ops = {
    .name = "virtio-blk",
    .device_id = VIRTIO_ID_BLOCK,
    .num_queues = 1,
    .queue_notify = blk_queue_notify,
    .free = blk_free,
};

/* Open path as a disk: a regular file or a block device, empty (a
 * placeholder drive) or at least one sector. */
static int disk_open(const char *path, bool readonly, int *fd_out, uint64_t *sectors,
                     struct kerr **err)
{
    cleanup_close int fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return kerr_make(err, errno, "disk `%s`", path);
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
        return kerr_make(err, EINVAL, "disk `%s` is neither a regular file nor a block device",
                         path);
    off_t size = st.st_size;
    if (S_ISBLK(st.st_mode) && (size = lseek(fd, 0, SEEK_END)) < 0)
        return kerr_make(err, errno, "disk `%s`: size", path);
    if (size > 0 && size < (off_t)SECTOR_SIZE)
        return kerr_make(err, EINVAL,
                         "disk `%s` is smaller than one %u-byte sector (and not empty)", path,
                         SECTOR_SIZE);
    *sectors = (uint64_t)size / SECTOR_SIZE;
    *fd_out = steal_fd(&fd);
    return 0;
}

int virtio_blk_init(struct virtio_mmio *dev, const char *path, bool readonly, const char *id,
                    const struct guest_memory *mem, uint64_t base, unsigned irq, struct kerr **err)
{
    if (id && strlen(id) > VIRTIO_BLK_ID_BYTES)
        return kerr_make(err, EINVAL, "disk `%s`: id `%s` is longer than %u bytes", path, id,
                         VIRTIO_BLK_ID_BYTES);
    int fd;
    uint64_t sectors;
    if (disk_open(path, readonly, &fd, &sectors, err) < 0)
        return -1;
    struct virtio_blk *blk = xcalloc(1, sizeof(*blk));
    blk->fd = fd;
    blk->readonly = blk->attached_readonly = readonly;
    blk->sectors = sectors;
    blk->path = xstrdup(path);
    if (id)
        memcpy(blk->id, id, strlen(id));
    uint64_t features = VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_FLUSH;
    if (readonly)
        features |= VIRTIO_BLK_F_RO;
    virtio_mmio_init(dev, &blk_ops, blk, features, mem, base, irq);
    /* Config: capacity (le64) at 0, size_max at 8 (not offered), seg_max at 12:
     * a request's data segments plus header and status fit a chain. */
    uint32_t seg_max = VIRTQ_CHAIN_MAX - 2;
    memcpy(dev->config, &blk->sectors, 8);
    memcpy(dev->config + 12, &seg_max, 4);
    dev->config_size = 24;
    return 0;
}

static struct virtio_blk *blk_of(const struct virtio_mmio *dev)
{
    return dev->ops == &blk_ops ? dev->device : NULL;
}

bool virtio_blk_has_id(const struct virtio_mmio *dev, const char *id)
{
    const struct virtio_blk *blk = blk_of(dev);
    return blk && strlen(id) <= VIRTIO_BLK_ID_BYTES &&
           strncmp(blk->id, id, VIRTIO_BLK_ID_BYTES) == 0;
}

int virtio_blk_replace(struct virtio_mmio *dev, const char *path, bool readonly, struct kerr **err)
{
    struct virtio_blk *blk = blk_of(dev);
    if (blk == NULL)
        return kerr_make(err, EINVAL, "%s at 0x%llx is not a disk", dev->ops->name,
                         (unsigned long long)dev->base);
    /* The guest learnt at probe time whether it may write: a disk attached
     * read-only cannot become writable. */
    if (blk->attached_readonly && !readonly)
        return kerr_make(err, EROFS,
                         "disk `%.20s` was attached read-only: the guest cannot write to `%s`",
                         blk->id, path);
    int fd;
    uint64_t sectors;
    if (disk_open(path, readonly, &fd, &sectors, err) < 0)
        return -1;
    char *new_path = xstrdup(path);
    pthread_mutex_lock(&dev->lock);
    int old_fd = blk->fd;
    char *old_path = blk->path;
    blk->fd = fd;
    blk->path = new_path;
    blk->readonly = readonly;
    blk->sectors = sectors; /* requests are checked against it from now on */
    memcpy(dev->config, &sectors, 8);
    virtio_mmio_config_changed(dev);
    pthread_mutex_unlock(&dev->lock);
    close(old_fd);
    free(old_path);
    return 0;
}

void virtio_blk_state(struct virtio_mmio *dev, struct virtio_blk_state *out)
{
    const struct virtio_blk *blk = blk_of(dev);
    memset(out, 0, sizeof(*out));
    if (blk == NULL)
        return;
    pthread_mutex_lock(&dev->lock);
    memcpy(out->id, blk->id, VIRTIO_BLK_ID_BYTES);
    out->path = xstrdup(blk->path);
    out->readonly = blk->readonly;
    out->sectors = blk->sectors;
    out->guest_seen = virtio_mmio_config_seen(dev);
    pthread_mutex_unlock(&dev->lock);
}
