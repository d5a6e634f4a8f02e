/* The shim's block-rootfs logic (src/shim/blockroot.c) against the mock
 * driver: a disk attached at boot when the driver cannot hot-plug, hotplug
 * ports left when it can, a refused hotplug, the driver's guest path, the
 * disk given back when a container goes. */
#include "config.h"
#include "mock_driver.h"
#include "shim.h"
#include "test.h"
#include "util.h"

#include <errno.h>

struct fixture {
    struct kata_config cfg;
    struct sandbox sb;
    struct shim shim;
};

static void fixture_init(struct fixture *f, const char *shared_fs)
{
    mock_reset();
    memset(f, 0, sizeof(*f));
    f->cfg.path = (char *)"/etc/kata/test.toml";
    f->cfg.hypervisor.name = "mock";
    f->cfg.hypervisor.block_device_driver = (char *)"virtio-blk";
    f->cfg.hypervisor.shared_fs = (char *)shared_fs;
    f->sb.cfg = &f->cfg;
    f->sb.driver = &mock_ops;
    f->sb.vm_cfg.shared_fs = shared_fs;
    f->sb.vm.ops = &mock_ops;
    f->shim.sandbox = &f->sb;
}

static struct blockroot *disk(const char *device)
{
    struct blockroot *br = xcalloc(1, sizeof(*br));
    br->device = xstrdup(device);
    br->fstype = xstrdup("ext4");
    return br;
}

TEST(without_hotplug_the_first_rootfs_is_attached_at_boot)
{
    struct fixture f;
    fixture_init(&f, "none");
    mock.caps.blk_hotplug = false;
    f.sb.vm_cfg.image = "/guest.img";
    struct blockroot *br = disk("/dev/loop7");
    cleanup_kerr struct kerr *e = NULL;
    CHECK_INT(blockroot_boot_prepare(&f.shim, "c1", "/bundle/rootfs", &br, &e), 0);
    CHECK(br != NULL && br->coldplugged);
    CHECK_INT(f.sb.vm_cfg.n_block_devices, 1);
    CHECK_STR(f.sb.vm_cfg.block_devices[0].path, "/dev/loop7");
    CHECK_STR(br->guest_source, "/dev/vdb"); /* after the image */
    CHECK_INT(f.sb.vm_cfg.hotplug_slots, 0);
    blockroot_free(br);
}

TEST(with_hotplug_the_vm_gets_ports_and_no_boot_disk)
{
    struct fixture f;
    fixture_init(&f, "none");
    struct blockroot *br = disk("/dev/loop7");
    cleanup_kerr struct kerr *e = NULL;
    CHECK_INT(blockroot_boot_prepare(&f.shim, "c1", "/bundle/rootfs", &br, &e), 0);
    CHECK(!br->coldplugged);
    CHECK_INT(f.sb.vm_cfg.n_block_devices, 0);
    CHECK_INT(f.sb.vm_cfg.hotplug_slots, 4);
    blockroot_free(br);
}

/* A later container's rootfs cannot reach a VM without hotplug as a disk:
 * shared as files when there is a share, an error naming it without. */
TEST(a_later_rootfs_without_hotplug_is_shared_or_refused)
{
    struct fixture f;
    fixture_init(&f, "virtio-fs");
    mock.caps.blk_hotplug = false;
    struct blockroot *br = disk("/dev/loop8");
    cleanup_kerr struct kerr *e = NULL;
    CHECK_INT(blockroot_decide(&f.shim, "c2", "/b2/rootfs", &br, false, &e), 0);
    CHECK(br == NULL); /* shared instead */
    fixture_init(&f, "none");
    mock.caps.blk_hotplug = false;
    br = disk("/dev/loop8");
    CHECK_INT(blockroot_decide(&f.shim, "c2", "/b2/rootfs", &br, false, &e), -1);
    CHECK_CONTAINS(e->msg, "container `c2`: its rootfs is on block device `/dev/loop8`");
    CHECK_CONTAINS(e->msg, "hypervisor `mock`");
    CHECK_CONTAINS(e->msg, "shared_fs = \"none\" in `/etc/kata/test.toml`");
    blockroot_free(br);
}

TEST(a_refused_hotplug_names_the_container_and_device)
{
    struct fixture f;
    fixture_init(&f, "none");
    mock.hotplug_errno = ENOSPC;
    struct container c = {.id = "c3", .blockroot = disk("/dev/loop9")};
    Grpc__Spec spec = GRPC__SPEC__INIT;
    Grpc__Storage *storage = NULL;
    cleanup_kerr struct kerr *e = NULL;
    CHECK_INT(blockroot_plug(&f.shim, &c, &spec, &storage, &e), -1);
    CHECK(storage == NULL);
    CHECK_CONTAINS(e->msg, "container `c3`: rootfs `/dev/loop9`: mock: hotplug `rootfs0` refused");
    blockroot_free(c.blockroot);
}

/* The agent's storage driver follows the guest path the driver answers. */
static char *plugged_driver(const char *guest_path)
{
    struct fixture f;
    fixture_init(&f, "none");
    mock.guest_path = guest_path;
    struct container c = {.id = "c4", .blockroot = disk("/dev/loop9")};
    Grpc__Spec spec = GRPC__SPEC__INIT;
    Grpc__Storage *storage = NULL;
    char *out = NULL;
    if (blockroot_plug(&f.shim, &c, &spec, &storage, NULL) == 0) {
        out = xasprintf("%s %s %s %s", storage->driver, storage->source, storage->mount_point,
                        spec.root->path);
        grpc__storage__free_unpacked(storage, NULL);
        free(spec.root->path);
        free(spec.root);
    }
    blockroot_free(c.blockroot);
    return out;
}

TEST(the_guest_path_chooses_the_agents_storage_driver)
{
    cleanup_free char *pci = plugged_driver("18/00");
    cleanup_free char *mmio = plugged_driver("/dev/vdc");
    CHECK_STR(pci, "blk 18/00 " GUEST_BLOCK_ROOTFS_DIR "/c4 " GUEST_BLOCK_ROOTFS_DIR "/c4");
    CHECK_STR(mmio, "mmioblk /dev/vdc " GUEST_BLOCK_ROOTFS_DIR "/c4 " GUEST_BLOCK_ROOTFS_DIR "/c4");
}

/* While other containers keep the VM, a going container's disk is given
 * back; when the VM is gone, nothing is asked of it. */
TEST(release_unplugs_only_while_the_vm_stays)
{
    struct fixture f;
    fixture_init(&f, "none");
    struct container other = {.id = "other"};
    f.shim.containers = &other;
    f.sb.vm.pid = 12345; /* never signalled: the mock has no process */
    struct container c = {.id = "c5", .blockroot = disk("/dev/loop9")};
    Grpc__Spec spec = GRPC__SPEC__INIT;
    Grpc__Storage *storage = NULL;
    CHECK_INT(blockroot_plug(&f.shim, &c, &spec, &storage, NULL), 0);
    grpc__storage__free_unpacked(storage, NULL);
    free(spec.root->path);
    free(spec.root);
    blockroot_release(&f.shim, &c);
    CHECK(c.blockroot == NULL);
    CHECK_INT(mock.unplugs, 1);
    CHECK_STR(mock.unplugged, mock.hotplugged);
    f.sb.vm.pid = 0;
    c.blockroot = disk("/dev/loop9");
    c.blockroot->hotplugged = true;
    c.blockroot->disk_id = xstrdup("rootfs9");
    blockroot_release(&f.shim, &c);
    CHECK_INT(mock.unplugs, 1);
}
