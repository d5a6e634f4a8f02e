/* The project's .proto files against the wire formats they must match: Kata's
 * agent protocol (grpc.AgentService, grpc.Health) and containerd's shim task
 * API, events and runtime options.
 *
 * The byte-level tests compare protobuf-c's encoding with bytes worked out by
 * hand from the upstream field numbers (tag = field << 3 | wire type; 0 varint,
 * 2 length-delimited), then decode those bytes back.  A wrong field number or
 * type in proto/ fails here rather than silently breaking interop. */
#include "test.h"

#include <stdint.h>

#include "agent.pb-c.h"
#include "csi.pb-c.h"
#include "health.pb-c.h"
#include "kata_types.pb-c.h"
#include "oci.pb-c.h"
#include "runtimeoptions.pb-c.h"
#include "shim.pb-c.h"
#include "task_events.pb-c.h"
#include "task_types.pb-c.h"
#include "ttrpc_events.pb-c.h"

static void print_hex(const char *label, const uint8_t *p, size_t n)
{
    printf("#   %s (%zu):", label, n);
    for (size_t i = 0; i < n; i++)
        printf(" %02x", p[i]);
    printf("\n");
}

/* Pack msg and compare with want; print both on mismatch. */
static int packs_to(const ProtobufCMessage *msg, const uint8_t *want, size_t want_len)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(n ? n : 1);
    if (buf == NULL)
        return 0;
    size_t written = protobuf_c_message_pack(msg, buf);
    int ok = written == n && n == want_len && memcmp(buf, want, n) == 0;
    if (!ok) {
        print_hex("packed", buf, written);
        print_hex("wanted", want, want_len);
    }
    free(buf);
    return ok;
}

/* CHECK_PACKS(&msg, bytes...): msg encodes to exactly these bytes. */
#define CHECK_PACKS(msg, ...)                                                                      \
    do {                                                                                           \
        static const uint8_t _want[] = {__VA_ARGS__};                                              \
        CHECK(packs_to((const ProtobufCMessage *)(msg), _want, sizeof _want));                     \
    } while (0)

/* Declare `const uint8_t name[]` for decoding. */
#define WIRE(name, ...) static const uint8_t name[] = {__VA_ARGS__}

/* Pack and unpack again with the same descriptor. */
static ProtobufCMessage *round_trip(const ProtobufCMessage *msg)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(n ? n : 1);
    if (buf == NULL)
        return NULL;
    protobuf_c_message_pack(msg, buf);
    ProtobufCMessage *out = protobuf_c_message_unpack(msg->descriptor, NULL, n, buf);
    free(buf);
    return out;
}

/* ---- Kata agent protocol ------------------------------------------------------------------- */

TEST(agent_create_container_request_field_numbers)
{
    Grpc__CreateContainerRequest req = GRPC__CREATE_CONTAINER_REQUEST__INIT;
    Grpc__StringUser user = GRPC__STRING_USER__INIT;
    Grpc__Spec spec = GRPC__SPEC__INIT;
    req.container_id = "c1";
    req.exec_id = "e";
    user.uid = "0";
    req.string_user = &user;
    spec.hostname = "h";
    req.oci = &spec;
    req.sandbox_pidns = 1;
    req.stdin_port = 5;
    req.stderr_port = 7;
    CHECK_PACKS(&req, 0x0a, 0x02, 'c', '1',  /* 1 container_id */
                0x12, 0x01, 'e',             /* 2 exec_id */
                0x1a, 0x03, 0x0a, 0x01, '0', /* 3 string_user { 1 uid } */
                0x32, 0x03, 0x22, 0x01, 'h', /* 6 OCI { 4 Hostname } */
                0x38, 0x01,                  /* 7 sandbox_pidns */
                0x48, 0x05,                  /* 9 stdin_port */
                0x58, 0x07);                 /* 11 stderr_port */

    WIRE(wire, 0x0a, 0x02, 'c', '1', 0x12, 0x01, 'e', 0x22, 0x04, 0x0a, 0x02, 'i',
         'd',                                        /* 4 devices */
         0x2a, 0x06, 0x0a, 0x04, 'b', 'l', 'k', '!', /* 5 storages */
         0x42, 0x03, 0x0a, 0x01, 'n',                /* 8 shared_mounts */
         0x50, 0x06);                                /* 10 stdout_port */
    Grpc__CreateContainerRequest *got =
        grpc__create_container_request__unpack(NULL, sizeof wire, wire);
    CHECK(got != NULL);
    CHECK_STR(got->container_id, "c1");
    CHECK_STR(got->exec_id, "e");
    CHECK_INT(got->n_devices, 1);
    CHECK_STR(got->devices[0]->id, "id");
    CHECK_INT(got->n_storages, 1);
    CHECK_STR(got->storages[0]->driver, "blk!");
    CHECK_INT(got->n_shared_mounts, 1);
    CHECK_STR(got->shared_mounts[0]->name, "n");
    CHECK_INT(got->stdout_port, 6);
    grpc__create_container_request__free_unpacked(got, NULL);
}

TEST(agent_exec_process_request_field_numbers)
{
    Grpc__ExecProcessRequest req = GRPC__EXEC_PROCESS_REQUEST__INIT;
    Grpc__Process proc = GRPC__PROCESS__INIT;
    Grpc__StringUser user = GRPC__STRING_USER__INIT;
    char *gids[] = {"10"};
    proc.cwd = "/";
    user.gid = "g";
    user.n_additionalgids = 1;
    user.additionalgids = gids;
    req.container_id = "c";
    req.exec_id = "x";
    req.string_user = &user;
    req.process = &proc;
    req.stdout_port = 6;
    CHECK_PACKS(&req, 0x0a, 0x01, 'c', /* 1 container_id */
                0x12, 0x01, 'x',       /* 2 exec_id */
                0x1a, 0x07, 0x12, 0x01, 'g', 0x1a, 0x02, '1',
                '0',                         /* 3 string_user {2 gid, 3 gids} */
                0x22, 0x03, 0x32, 0x01, '/', /* 4 process { 6 Cwd } */
                0x30, 0x06);                 /* 6 stdout_port */
}

TEST(agent_oci_spec_field_numbers)
{
    Grpc__Spec spec = GRPC__SPEC__INIT;
    Grpc__Process proc = GRPC__PROCESS__INIT;
    Grpc__Root root = GRPC__ROOT__INIT;
    Grpc__Linux lx = GRPC__LINUX__INIT;
    char *args[] = {"sh"};
    spec.version = "1.1.0";
    proc.terminal = 1;
    proc.n_args = 1;
    proc.args = args;
    spec.process = &proc;
    root.path = "/r";
    spec.root = &root;
    lx.cgroupspath = "/x";
    spec.linux_ = &lx;
    CHECK_PACKS(&spec, 0x0a, 0x05, '1', '.', '1', '.', '0',   /* 1 Version */
                0x12, 0x06, 0x08, 0x01, 0x22, 0x02, 's', 'h', /* 2 Process {1 Terminal, 4 Args} */
                0x1a, 0x04, 0x0a, 0x02, '/', 'r',             /* 3 Root { 1 Path } */
                0x42, 0x04, 0x2a, 0x02, '/', 'x');            /* 8 Linux { 5 CgroupsPath } */
}

TEST(agent_oci_seccomp_errnoret_zero_is_sent)
{
    /* ErrnoRet is a oneof so "errno 0" is distinguishable from "unset". */
    Grpc__LinuxSyscall sc = GRPC__LINUX_SYSCALL__INIT;
    char *names[] = {"kill"};
    sc.n_names = 1;
    sc.names = names;
    sc.action = "A";
    sc.errno_ret_case = GRPC__LINUX_SYSCALL__ERRNO_RET_ERRNORET;
    sc.errnoret = 0;
    CHECK_PACKS(&sc, 0x0a, 0x04, 'k', 'i', 'l', 'l', 0x12, 0x01, 'A', 0x18, 0x00);
    sc.errno_ret_case = GRPC__LINUX_SYSCALL__ERRNO_RET__NOT_SET;
    CHECK_PACKS(&sc, 0x0a, 0x04, 'k', 'i', 'l', 'l', 0x12, 0x01, 'A');
}

TEST(agent_oci_resources_field_numbers)
{
    Grpc__LinuxResources res = GRPC__LINUX_RESOURCES__INIT;
    Grpc__LinuxMemory mem = GRPC__LINUX_MEMORY__INIT;
    Grpc__LinuxCPU cpu = GRPC__LINUX_CPU__INIT;
    Grpc__LinuxPids pids = GRPC__LINUX_PIDS__INIT;
    mem.limit = 1000;
    mem.disableoomkiller = 1;
    cpu.quota = -1;
    cpu.cpus = "0";
    pids.limit = 3;
    res.memory = &mem;
    res.cpu = &cpu;
    res.pids = &pids;
    CHECK_PACKS(&res, 0x12, 0x05, 0x08, 0xe8, 0x07, 0x38,
                0x01, /* 2 Memory {1 Limit, 7 DisableOOMKiller} */
                0x1a, 0x0e, 0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x32,
                0x01, '0',               /* 3 CPU {2 Quota, 6 Cpus} */
                0x22, 0x02, 0x08, 0x03); /* 4 Pids {1 Limit} */
}

TEST(agent_stream_messages_field_numbers)
{
    Grpc__ReadStreamRequest rd = GRPC__READ_STREAM_REQUEST__INIT;
    rd.container_id = "c";
    rd.exec_id = "x";
    rd.len = 300;
    CHECK_PACKS(&rd, 0x0a, 0x01, 'c', 0x12, 0x01, 'x', 0x18, 0xac, 0x02);

    uint8_t data[] = {'a', 'b'};
    Grpc__ReadStreamResponse rr = GRPC__READ_STREAM_RESPONSE__INIT;
    rr.data.data = data;
    rr.data.len = 2;
    CHECK_PACKS(&rr, 0x0a, 0x02, 'a', 'b');

    Grpc__WriteStreamRequest wr = GRPC__WRITE_STREAM_REQUEST__INIT;
    wr.container_id = "c";
    wr.exec_id = "x";
    wr.data.data = data;
    wr.data.len = 2;
    CHECK_PACKS(&wr, 0x0a, 0x01, 'c', 0x12, 0x01, 'x', 0x1a, 0x02, 'a', 'b');

    Grpc__WriteStreamResponse ws = GRPC__WRITE_STREAM_RESPONSE__INIT;
    ws.len = 2;
    CHECK_PACKS(&ws, 0x08, 0x02);

    Grpc__CloseStdinRequest cs = GRPC__CLOSE_STDIN_REQUEST__INIT;
    cs.container_id = "c";
    cs.exec_id = "x";
    CHECK_PACKS(&cs, 0x0a, 0x01, 'c', 0x12, 0x01, 'x');

    Grpc__TtyWinResizeRequest tw = GRPC__TTY_WIN_RESIZE_REQUEST__INIT;
    tw.container_id = "c";
    tw.exec_id = "x";
    tw.row = 24;
    tw.column = 80;
    CHECK_PACKS(&tw, 0x0a, 0x01, 'c', 0x12, 0x01, 'x', 0x18, 24, 0x20, 80);

    WIRE(wire, 0x0a, 0x03, 'o', 'u', 't');
    Grpc__ReadStreamResponse *got = grpc__read_stream_response__unpack(NULL, sizeof wire, wire);
    CHECK(got != NULL);
    CHECK_INT(got->data.len, 3);
    CHECK(memcmp(got->data.data, "out", 3) == 0);
    grpc__read_stream_response__free_unpacked(got, NULL);
}

TEST(agent_process_control_field_numbers)
{
    Grpc__WaitProcessResponse wp = GRPC__WAIT_PROCESS_RESPONSE__INIT;
    wp.status = 137;
    CHECK_PACKS(&wp, 0x08, 0x89, 0x01);
    /* int32, not sint32: negative values take ten bytes. */
    wp.status = -1;
    CHECK_PACKS(&wp, 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01);

    Grpc__WaitProcessRequest wq = GRPC__WAIT_PROCESS_REQUEST__INIT;
    wq.container_id = "c";
    wq.exec_id = "x";
    CHECK_PACKS(&wq, 0x0a, 0x01, 'c', 0x12, 0x01, 'x');

    Grpc__SignalProcessRequest sp = GRPC__SIGNAL_PROCESS_REQUEST__INIT;
    sp.container_id = "c";
    sp.signal = 9;
    CHECK_PACKS(&sp, 0x0a, 0x01, 'c', 0x18, 0x09);

    Grpc__RemoveContainerRequest rm = GRPC__REMOVE_CONTAINER_REQUEST__INIT;
    rm.container_id = "c";
    rm.timeout = 10;
    CHECK_PACKS(&rm, 0x0a, 0x01, 'c', 0x10, 0x0a);

    Grpc__StartContainerRequest st = GRPC__START_CONTAINER_REQUEST__INIT;
    st.container_id = "c";
    CHECK_PACKS(&st, 0x0a, 0x01, 'c');

    Grpc__UpdateContainerRequest up = GRPC__UPDATE_CONTAINER_REQUEST__INIT;
    Grpc__LinuxResources res = GRPC__LINUX_RESOURCES__INIT;
    up.container_id = "c";
    up.resources = &res;
    CHECK_PACKS(&up, 0x0a, 0x01, 'c', 0x12, 0x00);

    Grpc__OOMEvent oom = GRPC__OOMEVENT__INIT;
    oom.container_id = "c";
    CHECK_PACKS(&oom, 0x0a, 0x01, 'c');
}

TEST(agent_guest_details_field_numbers)
{
    Grpc__GuestDetailsRequest rq = GRPC__GUEST_DETAILS_REQUEST__INIT;
    rq.mem_block_size = 1;
    rq.mem_hotplug_probe = 1;
    CHECK_PACKS(&rq, 0x08, 0x01, 0x10, 0x01);

    Grpc__GuestDetailsResponse rs = GRPC__GUEST_DETAILS_RESPONSE__INIT;
    Grpc__AgentDetails ad = GRPC__AGENT_DETAILS__INIT;
    char *feat[] = {"x"};
    ad.version = "3.2.0";
    ad.init_daemon = 1;
    ad.n_extra_features = 1;
    ad.extra_features = feat;
    rs.mem_block_size_bytes = 134217728;
    rs.agent_details = &ad;
    rs.support_mem_hotplug_probe = 1;
    CHECK_PACKS(&rs, 0x08, 0x80, 0x80, 0x80, 0x40,               /* 1 block size */
                0x12, 0x0c, 0x0a, 0x05, '3', '.', '2', '.', '0', /* 2 { 1 version */
                0x10, 0x01,                                      /*     2 init_daemon */
                0x32, 0x01, 'x',                                 /*     6 extra_features } */
                0x18, 0x01);                                     /* 3 hotplug probe */

    WIRE(wire, 0x12, 0x0a, 0x1a, 0x03, 'b', 'l', 'k', 0x22, 0x01, '9', 0x28, 0x01);
    Grpc__GuestDetailsResponse *got = grpc__guest_details_response__unpack(NULL, sizeof wire, wire);
    CHECK(got != NULL);
    CHECK(got->agent_details != NULL);
    CHECK_INT(got->agent_details->n_device_handlers, 1);
    CHECK_STR(got->agent_details->device_handlers[0], "blk");
    CHECK_STR(got->agent_details->storage_handlers[0], "9");
    CHECK_INT(got->agent_details->supports_seccomp, 1);
    grpc__guest_details_response__free_unpacked(got, NULL);
}

TEST(agent_sandbox_and_storage_field_numbers)
{
    Grpc__CreateSandboxRequest cs = GRPC__CREATE_SANDBOX_REQUEST__INIT;
    Grpc__Storage st = GRPC__STORAGE__INIT;
    Grpc__Storage *sts[] = {&st};
    Grpc__FSGroup fsg = GRPC__FSGROUP__INIT;
    Grpc__KernelModule km = GRPC__KERNEL_MODULE__INIT;
    Grpc__KernelModule *kms[] = {&km};
    char *dns[] = {"d"};
    char *opts[] = {"o"};
    fsg.group_id = 1000;
    fsg.group_change_policy = TYPES__FSGROUP_CHANGE_POLICY__OnRootMismatch;
    st.driver = "v";
    st.source = "s";
    st.fstype = "f";
    st.n_options = 1;
    st.options = opts;
    st.mount_point = "m";
    st.fs_group = &fsg;
    CHECK_PACKS(&st, 0x0a, 0x01, 'v', 0x1a, 0x01, 's', 0x22, 0x01, 'f', 0x2a, 0x01, 'o', 0x32, 0x01,
                'm', 0x3a, 0x05, 0x10, 0xe8, 0x07, 0x18, 0x01);

    km.name = "k";
    cs.hostname = "h";
    cs.n_dns = 1;
    cs.dns = dns;
    cs.sandbox_pidns = 1;
    cs.sandbox_id = "i";
    cs.guest_hook_path = "g";
    cs.n_kernel_modules = 1;
    cs.kernel_modules = kms;
    CHECK_PACKS(&cs, 0x0a, 0x01, 'h', 0x12, 0x01, 'd', 0x20, 0x01, 0x2a, 0x01, 'i', 0x32, 0x01, 'g',
                0x3a, 0x03, 0x0a, 0x01, 'k');
    cs.n_storages = 1;
    cs.storages = sts;
    st.fs_group = NULL;
    st.n_options = 0;
    st.fstype = st.source = st.mount_point = "";
    CHECK_PACKS(&cs, 0x0a, 0x01, 'h', 0x12, 0x01, 'd', 0x1a, 0x03, 0x0a, 0x01, 'v', 0x20, 0x01,
                0x2a, 0x01, 'i', 0x32, 0x01, 'g', 0x3a, 0x03, 0x0a, 0x01, 'k');

    Grpc__Device dev = GRPC__DEVICE__INIT;
    dev.id = "i";
    dev.type = "t";
    dev.vm_path = "v";
    dev.container_path = "c";
    dev.n_options = 1;
    dev.options = opts;
    CHECK_PACKS(&dev, 0x0a, 0x01, 'i', 0x12, 0x01, 't', 0x1a, 0x01, 'v', 0x22, 0x01, 'c', 0x2a,
                0x01, 'o');

    Grpc__SharedMount sm = GRPC__SHARED_MOUNT__INIT;
    sm.name = "n";
    sm.src_ctr = "a";
    sm.src_path = "b";
    sm.dst_ctr = "c";
    sm.dst_path = "d";
    CHECK_PACKS(&sm, 0x0a, 0x01, 'n', 0x12, 0x01, 'a', 0x1a, 0x01, 'b', 0x22, 0x01, 'c', 0x2a, 0x01,
                'd');
}

TEST(agent_misc_request_field_numbers)
{
    Grpc__OnlineCPUMemRequest oc = GRPC__ONLINE_CPUMEM_REQUEST__INIT;
    oc.wait = 1;
    oc.nb_cpus = 2;
    oc.cpu_only = 1;
    CHECK_PACKS(&oc, 0x08, 0x01, 0x10, 0x02, 0x18, 0x01);

    uint8_t seed[] = {0xaa};
    Grpc__ReseedRandomDevRequest rs = GRPC__RESEED_RANDOM_DEV_REQUEST__INIT;
    rs.data.data = seed;
    rs.data.len = 1;
    CHECK_PACKS(&rs, 0x12, 0x01, 0xaa); /* field 2: field 1 is unused upstream */

    Grpc__SetGuestDateTimeRequest dt = GRPC__SET_GUEST_DATE_TIME_REQUEST__INIT;
    dt.sec = 1700000000;
    dt.usec = 5;
    CHECK_PACKS(&dt, 0x08, 0x80, 0xe2, 0xcf, 0xaa, 0x06, 0x10, 0x05);

    Grpc__CopyFileRequest cf = GRPC__COPY_FILE_REQUEST__INIT;
    cf.path = "/run/f";
    cf.file_size = 3;
    cf.file_mode = 0644;
    cf.dir_mode = 0755;
    cf.uid = -1;
    cf.gid = 2;
    cf.offset = 1;
    cf.data.data = seed;
    cf.data.len = 1;
    CHECK_PACKS(&cf, 0x0a, 0x06, '/', 'r', 'u', 'n', '/', 'f', 0x10, 0x03, 0x18, 0xa4, 0x03, 0x20,
                0xed, 0x03, 0x28, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x30,
                0x02, 0x38, 0x01, 0x42, 0x01, 0xaa);

    uint64_t addrs[] = {1};
    Grpc__MemHotplugByProbeRequest mp = GRPC__MEM_HOTPLUG_BY_PROBE_REQUEST__INIT;
    mp.n_memhotplugprobeaddr = 1;
    mp.memhotplugprobeaddr = addrs;
    CHECK_PACKS(&mp, 0x0a, 0x01, 0x01); /* proto3 repeated scalars are packed */

    uint32_t pci[] = {2, 1};
    Grpc__AddSwapRequest sw = GRPC__ADD_SWAP_REQUEST__INIT;
    sw.n_pcipath = 2;
    sw.pcipath = pci;
    CHECK_PACKS(&sw, 0x0a, 0x02, 0x02, 0x01);

    Grpc__SetIPTablesRequest ip = GRPC__SET_IPTABLES_REQUEST__INIT;
    ip.is_ipv6 = 1;
    ip.data.data = seed;
    ip.data.len = 1;
    CHECK_PACKS(&ip, 0x08, 0x01, 0x12, 0x01, 0xaa);

    Grpc__ResizeVolumeRequest rv = GRPC__RESIZE_VOLUME_REQUEST__INIT;
    rv.volume_guest_path = "p";
    rv.size = 4;
    CHECK_PACKS(&rv, 0x0a, 0x01, 'p', 0x10, 0x04);

    Grpc__SetPolicyRequest pol = GRPC__SET_POLICY_REQUEST__INIT;
    pol.policy = "p";
    CHECK_PACKS(&pol, 0x0a, 0x01, 'p');

    Grpc__Metrics me = GRPC__METRICS__INIT;
    me.metrics = "m";
    CHECK_PACKS(&me, 0x0a, 0x01, 'm');
}

TEST(agent_network_types_field_numbers)
{
    Types__Interface ifc = TYPES__INTERFACE__INIT;
    Types__IPAddress addr = TYPES__IPADDRESS__INIT;
    Types__IPAddress *addrs[] = {&addr};
    addr.family = TYPES__IPFAMILY__v6;
    addr.address = "a";
    addr.mask = "8";
    ifc.device = "d";
    ifc.name = "e";
    ifc.n_ipaddresses = 1;
    ifc.ipaddresses = addrs;
    ifc.mtu = 1500;
    ifc.hwaddr = "h";
    ifc.devicepath = "p";
    ifc.type = "veth";
    ifc.raw_flags = 1;
    CHECK_PACKS(&ifc, 0x0a, 0x01, 'd', 0x12, 0x01, 'e', 0x1a, 0x08, 0x08, 0x01, 0x12, 0x01, 'a',
                0x1a, 0x01, '8', /* 3 IPAddresses */
                0x20, 0xdc, 0x0b, 0x2a, 0x01, 'h', 0x32, 0x01, 'p', 0x3a, 0x04, 'v', 'e', 't', 'h',
                0x40, 0x01);

    Types__Route rt = TYPES__ROUTE__INIT;
    rt.dest = "d";
    rt.gateway = "g";
    rt.device = "e";
    rt.source = "s";
    rt.scope = 253;
    rt.family = TYPES__IPFAMILY__v6;
    rt.flags = 4;
    CHECK_PACKS(&rt, 0x0a, 0x01, 'd', 0x12, 0x01, 'g', 0x1a, 0x01, 'e', 0x22, 0x01, 's', 0x28, 0xfd,
                0x01, 0x30, 0x01, 0x38, 0x04);

    Types__ARPNeighbor nb = TYPES__ARPNEIGHBOR__INIT;
    nb.toipaddress = &addr;
    nb.device = "e";
    nb.lladdr = "l";
    nb.state = 128;
    nb.flags = 1;
    CHECK_PACKS(&nb, 0x0a, 0x08, 0x08, 0x01, 0x12, 0x01, 'a', 0x1a, 0x01, '8', 0x12, 0x01, 'e',
                0x1a, 0x01, 'l', 0x20, 0x80, 0x01, 0x28, 0x01);

    Types__Route *rts[] = {&rt};
    Grpc__Routes routes = GRPC__ROUTES__INIT;
    routes.n_routes = 1;
    routes.routes = rts;
    rt.gateway = rt.device = rt.source = "";
    rt.scope = 0;
    rt.family = TYPES__IPFAMILY__v4;
    rt.flags = 0;
    CHECK_PACKS(&routes, 0x0a, 0x03, 0x0a, 0x01, 'd');
    Grpc__UpdateRoutesRequest ur = GRPC__UPDATE_ROUTES_REQUEST__INIT;
    ur.routes = &routes;
    CHECK_PACKS(&ur, 0x0a, 0x05, 0x0a, 0x03, 0x0a, 0x01, 'd');

    Grpc__UpdateInterfaceRequest ui = GRPC__UPDATE_INTERFACE_REQUEST__INIT;
    Types__Interface small = TYPES__INTERFACE__INIT;
    small.name = "e";
    ui.interface = &small;
    CHECK_PACKS(&ui, 0x0a, 0x03, 0x12, 0x01, 'e');
}

TEST(agent_stats_and_volume_field_numbers)
{
    Grpc__CgroupStats cg = GRPC__CGROUP_STATS__INIT;
    Grpc__PidsStats ps = GRPC__PIDS_STATS__INIT;
    Grpc__MemoryStats ms = GRPC__MEMORY_STATS__INIT;
    Grpc__MemoryStats__StatsEntry ent = GRPC__MEMORY_STATS__STATS_ENTRY__INIT;
    Grpc__MemoryStats__StatsEntry *ents[] = {&ent};
    ps.current = 2;
    ps.limit = 9;
    ent.key = "k";
    ent.value = 1;
    ms.cache = 5;
    ms.n_stats = 1;
    ms.stats = ents;
    cg.memory_stats = &ms;
    cg.pids_stats = &ps;
    CHECK_PACKS(&cg, 0x12, 0x09, 0x08, 0x05, 0x32, 0x05, 0x0a, 0x01, 'k', 0x10, 0x01, /* 2 memory */
                0x1a, 0x04, 0x08, 0x02, 0x10, 0x09);                                  /* 3 pids */

    Grpc__StatsContainerResponse sr = GRPC__STATS_CONTAINER_RESPONSE__INIT;
    Grpc__NetworkStats ns = GRPC__NETWORK_STATS__INIT;
    Grpc__NetworkStats *nss[] = {&ns};
    ns.name = "eth0";
    ns.tx_dropped = 3;
    sr.n_network_stats = 1;
    sr.network_stats = nss;
    CHECK_PACKS(&sr, 0x12, 0x08, 0x0a, 0x04, 'e', 't', 'h', '0', 0x48, 0x03);

    Grpc__VolumeStatsResponse vs = GRPC__VOLUME_STATS_RESPONSE__INIT;
    Grpc__VolumeUsage vu = GRPC__VOLUME_USAGE__INIT;
    Grpc__VolumeUsage *vus[] = {&vu};
    Grpc__VolumeCondition vc = GRPC__VOLUME_CONDITION__INIT;
    vu.available = 1;
    vu.total = 2;
    vu.used = 1;
    vu.unit = GRPC__VOLUME_USAGE__UNIT__INODES;
    vc.abnormal = 1;
    vc.message = "m";
    vs.n_usage = 1;
    vs.usage = vus;
    vs.volume_condition = &vc;
    CHECK_PACKS(&vs, 0x0a, 0x08, 0x08, 0x01, 0x10, 0x02, 0x18, 0x01, 0x20, 0x02, 0x12, 0x05, 0x08,
                0x01, 0x12, 0x01, 'm');
}

TEST(agent_mem_agent_optional_fields_keep_presence)
{
    Grpc__MemAgentMemcgConfig mc = GRPC__MEM_AGENT_MEMCG_CONFIG__INIT;
    CHECK_INT(protobuf_c_message_get_packed_size(&mc.base), 0);
    /* A set field goes on the wire even when it is zero, as proto3 "optional" does. */
    mc.has_swap_case = GRPC__MEM_AGENT_MEMCG_CONFIG__HAS_SWAP_SWAP;
    mc.swap = 0;
    mc.has_eviction_run_aging_count_min_case =
        GRPC__MEM_AGENT_MEMCG_CONFIG__HAS_EVICTION_RUN_AGING_COUNT_MIN_EVICTION_RUN_AGING_COUNT_MIN;
    mc.eviction_run_aging_count_min = 3;
    CHECK_PACKS(&mc, 0x10, 0x00, 0x38, 0x03);

    Grpc__MemAgentMemcgConfig *back = (Grpc__MemAgentMemcgConfig *)round_trip(&mc.base);
    CHECK(back != NULL);
    CHECK_INT(back->has_disabled_case, GRPC__MEM_AGENT_MEMCG_CONFIG__HAS_DISABLED__NOT_SET);
    CHECK_INT(back->has_swap_case, GRPC__MEM_AGENT_MEMCG_CONFIG__HAS_SWAP_SWAP);
    CHECK_INT(back->swap, 0);
    CHECK_INT(back->eviction_run_aging_count_min, 3);
    protobuf_c_message_free_unpacked(&back->base, NULL);

    Grpc__MemAgentCompactConfig cc = GRPC__MEM_AGENT_COMPACT_CONFIG__INIT;
    cc.has_compact_sec_max_case =
        GRPC__MEM_AGENT_COMPACT_CONFIG__HAS_COMPACT_SEC_MAX_COMPACT_SEC_MAX;
    cc.compact_sec_max = -1;
    cc.has_compact_force_times_case =
        GRPC__MEM_AGENT_COMPACT_CONFIG__HAS_COMPACT_FORCE_TIMES_COMPACT_FORCE_TIMES;
    cc.compact_force_times = 1;
    CHECK_PACKS(&cc, 0x28, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x40, 0x01);
}

TEST(agent_unknown_fields_are_tolerated)
{
    /* A newer runtime may send fields we do not know (here field 8 of
     * CreateSandboxRequest and field 99 of CreateContainerRequest). */
    WIRE(sb, 0x0a, 0x01, 'h', 0x40, 0x01);
    Grpc__CreateSandboxRequest *s = grpc__create_sandbox_request__unpack(NULL, sizeof sb, sb);
    CHECK(s != NULL);
    CHECK_STR(s->hostname, "h");
    grpc__create_sandbox_request__free_unpacked(s, NULL);

    WIRE(cc, 0x0a, 0x01, 'c', 0x9a, 0x06, 0x01, 'z');
    Grpc__CreateContainerRequest *c = grpc__create_container_request__unpack(NULL, sizeof cc, cc);
    CHECK(c != NULL);
    CHECK_STR(c->container_id, "c");
    grpc__create_container_request__free_unpacked(c, NULL);
}

TEST(agent_create_container_round_trip)
{
    Grpc__CreateContainerRequest req = GRPC__CREATE_CONTAINER_REQUEST__INIT;
    Grpc__Spec spec = GRPC__SPEC__INIT;
    Grpc__Process proc = GRPC__PROCESS__INIT;
    Grpc__User user = GRPC__USER__INIT;
    Grpc__Linux lx = GRPC__LINUX__INIT;
    Grpc__LinuxNamespace ns = GRPC__LINUX_NAMESPACE__INIT;
    Grpc__LinuxNamespace *nss[] = {&ns};
    Grpc__Mount m = GRPC__MOUNT__INIT;
    Grpc__Mount *ms[] = {&m};
    Grpc__Spec__AnnotationsEntry ann = GRPC__SPEC__ANNOTATIONS_ENTRY__INIT;
    Grpc__Spec__AnnotationsEntry *anns[] = {&ann};
    Grpc__LinuxCapabilities caps = GRPC__LINUX_CAPABILITIES__INIT;
    char *args[] = {"/bin/sh", "-c", "true"};
    char *env[] = {"PATH=/bin"};
    char *capl[] = {"CAP_KILL"};
    char *mopts[] = {"rbind", "ro"};

    user.uid = 1000;
    user.gid = 100;
    proc.user = &user;
    proc.n_args = 3;
    proc.args = args;
    proc.n_env = 1;
    proc.env = env;
    proc.cwd = "/";
    caps.n_bounding = caps.n_ambient = 1;
    caps.bounding = caps.ambient = capl;
    proc.capabilities = &caps;
    proc.oomscoreadj = -999;
    ns.type = "pid";
    ns.path = "/proc/1/ns/pid";
    lx.n_namespaces = 1;
    lx.namespaces = nss;
    lx.cgroupspath = "/kata/c1";
    m.destination = "/data";
    m.source = "/run/kata-containers/shared/containers/c1-data";
    m.type = "bind";
    m.n_options = 2;
    m.options = mopts;
    ann.key = "io.kubernetes.cri.container-type";
    ann.value = "container";
    spec.version = "1.1.0";
    spec.process = &proc;
    spec.n_mounts = 1;
    spec.mounts = ms;
    spec.n_annotations = 1;
    spec.annotations = anns;
    spec.linux_ = &lx;
    req.container_id = "c1";
    req.exec_id = "c1";
    req.oci = &spec;

    Grpc__CreateContainerRequest *got = (Grpc__CreateContainerRequest *)round_trip(&req.base);
    CHECK(got != NULL);
    CHECK_STR(got->container_id, "c1");
    CHECK(got->oci != NULL && got->oci->process != NULL && got->oci->linux_ != NULL);
    CHECK_INT(got->oci->process->n_args, 3);
    CHECK_STR(got->oci->process->args[2], "true");
    CHECK_INT(got->oci->process->user->uid, 1000);
    CHECK_INT(got->oci->process->oomscoreadj, -999);
    CHECK_STR(got->oci->process->capabilities->ambient[0], "CAP_KILL");
    CHECK_STR(got->oci->linux_->namespaces[0]->path, "/proc/1/ns/pid");
    CHECK_STR(got->oci->linux_->cgroupspath, "/kata/c1");
    CHECK_INT(got->oci->n_mounts, 1);
    CHECK_STR(got->oci->mounts[0]->options[1], "ro");
    CHECK_STR(got->oci->annotations[0]->value, "container");
    protobuf_c_message_free_unpacked(&got->base, NULL);
}

TEST(health_check_and_version_field_numbers)
{
    Grpc__CheckRequest cr = GRPC__CHECK_REQUEST__INIT;
    cr.service = "s";
    CHECK_PACKS(&cr, 0x0a, 0x01, 's');

    Grpc__HealthCheckResponse hr = GRPC__HEALTH_CHECK_RESPONSE__INIT;
    CHECK_INT(GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__UNKNOWN, 0);
    CHECK_INT(protobuf_c_message_get_packed_size(&hr.base), 0);
    hr.status = GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    CHECK_PACKS(&hr, 0x08, 0x01);
    hr.status = GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
    CHECK_PACKS(&hr, 0x08, 0x02);

    Grpc__VersionCheckResponse vr = GRPC__VERSION_CHECK_RESPONSE__INIT;
    vr.grpc_version = "1";
    vr.agent_version = "2";
    CHECK_PACKS(&vr, 0x0a, 0x01, '1', 0x12, 0x01, '2');
}

/* Every method of a service resolves by name, with the expected input type. */
struct method_want {
    const char *name;
    const ProtobufCMessageDescriptor *input;
    const ProtobufCMessageDescriptor *output;
};

static int service_has(const ProtobufCServiceDescriptor *sd, const struct method_want *w, size_t n)
{
    if (sd->n_methods != n) {
        printf("#   %s has %u methods, want %zu\n", sd->name, sd->n_methods, n);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        const ProtobufCMethodDescriptor *m =
            protobuf_c_service_descriptor_get_method_by_name(sd, w[i].name);
        if (m == NULL || m->input != w[i].input || m->output != w[i].output) {
            printf("#   %s.%s missing or mistyped\n", sd->name, w[i].name);
            return 0;
        }
    }
    return 1;
}

TEST(agent_service_methods)
{
    const ProtobufCMessageDescriptor *empty = &google__protobuf__empty__descriptor;
    const struct method_want want[] = {
        {"CreateContainer", &grpc__create_container_request__descriptor, empty},
        {"StartContainer", &grpc__start_container_request__descriptor, empty},
        {"RemoveContainer", &grpc__remove_container_request__descriptor, empty},
        {"ExecProcess", &grpc__exec_process_request__descriptor, empty},
        {"SignalProcess", &grpc__signal_process_request__descriptor, empty},
        {"WaitProcess", &grpc__wait_process_request__descriptor,
         &grpc__wait_process_response__descriptor},
        {"UpdateContainer", &grpc__update_container_request__descriptor, empty},
        {"UpdateEphemeralMounts", &grpc__update_ephemeral_mounts_request__descriptor, empty},
        {"StatsContainer", &grpc__stats_container_request__descriptor,
         &grpc__stats_container_response__descriptor},
        {"PauseContainer", &grpc__pause_container_request__descriptor, empty},
        {"ResumeContainer", &grpc__resume_container_request__descriptor, empty},
        {"RemoveStaleVirtiofsShareMounts",
         &grpc__remove_stale_virtiofs_share_mounts_request__descriptor, empty},
        {"WriteStdin", &grpc__write_stream_request__descriptor,
         &grpc__write_stream_response__descriptor},
        {"ReadStdout", &grpc__read_stream_request__descriptor,
         &grpc__read_stream_response__descriptor},
        {"ReadStderr", &grpc__read_stream_request__descriptor,
         &grpc__read_stream_response__descriptor},
        {"CloseStdin", &grpc__close_stdin_request__descriptor, empty},
        {"TtyWinResize", &grpc__tty_win_resize_request__descriptor, empty},
        {"UpdateInterface", &grpc__update_interface_request__descriptor,
         &types__interface__descriptor},
        {"UpdateRoutes", &grpc__update_routes_request__descriptor, &grpc__routes__descriptor},
        {"ListInterfaces", &grpc__list_interfaces_request__descriptor,
         &grpc__interfaces__descriptor},
        {"ListRoutes", &grpc__list_routes_request__descriptor, &grpc__routes__descriptor},
        {"AddARPNeighbors", &grpc__add_arpneighbors_request__descriptor, empty},
        {"GetIPTables", &grpc__get_iptables_request__descriptor,
         &grpc__get_iptables_response__descriptor},
        {"SetIPTables", &grpc__set_iptables_request__descriptor,
         &grpc__set_iptables_response__descriptor},
        {"GetMetrics", &grpc__get_metrics_request__descriptor, &grpc__metrics__descriptor},
        {"MemAgentMemcgSet", &grpc__mem_agent_memcg_config__descriptor, empty},
        {"MemAgentCompactSet", &grpc__mem_agent_compact_config__descriptor, empty},
        {"CreateSandbox", &grpc__create_sandbox_request__descriptor, empty},
        {"DestroySandbox", &grpc__destroy_sandbox_request__descriptor, empty},
        {"OnlineCPUMem", &grpc__online_cpumem_request__descriptor, empty},
        {"ReseedRandomDev", &grpc__reseed_random_dev_request__descriptor, empty},
        {"GetGuestDetails", &grpc__guest_details_request__descriptor,
         &grpc__guest_details_response__descriptor},
        {"MemHotplugByProbe", &grpc__mem_hotplug_by_probe_request__descriptor, empty},
        {"SetGuestDateTime", &grpc__set_guest_date_time_request__descriptor, empty},
        {"CopyFile", &grpc__copy_file_request__descriptor, empty},
        {"GetOOMEvent", &grpc__get_oomevent_request__descriptor, &grpc__oomevent__descriptor},
        {"AddSwap", &grpc__add_swap_request__descriptor, empty},
        {"GetVolumeStats", &grpc__volume_stats_request__descriptor,
         &grpc__volume_stats_response__descriptor},
        {"ResizeVolume", &grpc__resize_volume_request__descriptor, empty},
        {"SetPolicy", &grpc__set_policy_request__descriptor, empty},
    };
    CHECK_STR(grpc__agent_service__descriptor.name, "grpc.AgentService");
    CHECK(service_has(&grpc__agent_service__descriptor, want, sizeof want / sizeof want[0]));

    const struct method_want health[] = {
        {"Check", &grpc__check_request__descriptor, &grpc__health_check_response__descriptor},
        {"Version", &grpc__check_request__descriptor, &grpc__version_check_response__descriptor},
    };
    CHECK_STR(grpc__health__descriptor.name, "grpc.Health");
    CHECK(service_has(&grpc__health__descriptor, health, 2));
}

/* ---- containerd shim task API -------------------------------------------------------------- */

TEST(shim_task_service_methods)
{
    const ProtobufCMessageDescriptor *empty = &google__protobuf__empty__descriptor;
    const struct method_want want[] = {
        {"State", &containerd__task__v2__state_request__descriptor,
         &containerd__task__v2__state_response__descriptor},
        {"Create", &containerd__task__v2__create_task_request__descriptor,
         &containerd__task__v2__create_task_response__descriptor},
        {"Start", &containerd__task__v2__start_request__descriptor,
         &containerd__task__v2__start_response__descriptor},
        {"Delete", &containerd__task__v2__delete_request__descriptor,
         &containerd__task__v2__delete_response__descriptor},
        {"Pids", &containerd__task__v2__pids_request__descriptor,
         &containerd__task__v2__pids_response__descriptor},
        {"Pause", &containerd__task__v2__pause_request__descriptor, empty},
        {"Resume", &containerd__task__v2__resume_request__descriptor, empty},
        {"Checkpoint", &containerd__task__v2__checkpoint_task_request__descriptor, empty},
        {"Kill", &containerd__task__v2__kill_request__descriptor, empty},
        {"Exec", &containerd__task__v2__exec_process_request__descriptor, empty},
        {"ResizePty", &containerd__task__v2__resize_pty_request__descriptor, empty},
        {"CloseIO", &containerd__task__v2__close_iorequest__descriptor, empty},
        {"Update", &containerd__task__v2__update_task_request__descriptor, empty},
        {"Wait", &containerd__task__v2__wait_request__descriptor,
         &containerd__task__v2__wait_response__descriptor},
        {"Stats", &containerd__task__v2__stats_request__descriptor,
         &containerd__task__v2__stats_response__descriptor},
        {"Connect", &containerd__task__v2__connect_request__descriptor,
         &containerd__task__v2__connect_response__descriptor},
        {"Shutdown", &containerd__task__v2__shutdown_request__descriptor, empty},
    };
    CHECK_STR(containerd__task__v2__task__descriptor.name, "containerd.task.v2.Task");
    CHECK(service_has(&containerd__task__v2__task__descriptor, want, sizeof want / sizeof want[0]));

    const struct method_want ev[] = {
        {"Forward", &containerd__services__events__ttrpc__v1__forward_request__descriptor, empty},
    };
    CHECK_STR(containerd__services__events__ttrpc__v1__events__descriptor.name,
              "containerd.services.events.ttrpc.v1.Events");
    CHECK(service_has(&containerd__services__events__ttrpc__v1__events__descriptor, ev, 1));
}

TEST(shim_create_task_request_field_numbers)
{
    Containerd__Task__V2__CreateTaskRequest req = CONTAINERD__TASK__V2__CREATE_TASK_REQUEST__INIT;
    Containerd__Types__Mount m = CONTAINERD__TYPES__MOUNT__INIT;
    Containerd__Types__Mount *ms[] = {&m};
    Google__Protobuf__Any opts = GOOGLE__PROTOBUF__ANY__INIT;
    char *mopts[] = {"ro"};
    uint8_t optval[] = {0x12, 0x02, '/', 'c'}; /* Options { 2 config_path "/c" } */
    m.type = "overlay";
    m.source = "o";
    m.n_options = 1;
    m.options = mopts;
    opts.type_url = "runtimeoptions.v1.Options";
    opts.value.data = optval;
    opts.value.len = sizeof optval;
    req.id = "c";
    req.bundle = "/b";
    req.n_rootfs = 1;
    req.rootfs = ms;
    req.terminal = 1;
    req.stdin = "i";
    req.stdout = "o";
    req.stderr = "e";
    req.checkpoint = "k";
    req.parent_checkpoint = "p";
    req.options = &opts;
    CHECK_PACKS(&req, 0x0a, 0x01, 'c',                                     /* 1 id */
                0x12, 0x02, '/', 'b',                                      /* 2 bundle */
                0x1a, 0x10, 0x0a, 0x07, 'o', 'v', 'e', 'r', 'l', 'a', 'y', /* 3 rootfs { 1 type */
                0x12, 0x01, 'o', 0x22, 0x02, 'r', 'o',             /*   2 source, 4 options } */
                0x20, 0x01,                                        /* 4 terminal */
                0x2a, 0x01, 'i', 0x32, 0x01, 'o', 0x3a, 0x01, 'e', /* 5 6 7 stdio */
                0x42, 0x01, 'k', 0x4a, 0x01, 'p',                  /* 8 9 checkpoints */
                0x52, 0x21,                                        /* 10 options (Any) */
                0x0a, 0x19, 'r', 'u', 'n', 't', 'i', 'm', 'e', 'o', 'p', 't', 'i', 'o', 'n', 's',
                '.', 'v', '1', '.', 'O', 'p', 't', 'i', 'o', 'n', 's', 0x12, 0x04, 0x12, 0x02, '/',
                'c');

    Containerd__Task__V2__CreateTaskResponse rs = CONTAINERD__TASK__V2__CREATE_TASK_RESPONSE__INIT;
    rs.pid = 42;
    CHECK_PACKS(&rs, 0x08, 0x2a);

    /* Decode the options the way the shim will. */
    Containerd__Task__V2__CreateTaskRequest *got =
        (Containerd__Task__V2__CreateTaskRequest *)round_trip(&req.base);
    CHECK(got != NULL && got->options != NULL);
    CHECK_STR(got->options->type_url, runtimeoptions__v1__options__descriptor.name);
    Runtimeoptions__V1__Options *o = runtimeoptions__v1__options__unpack(
        NULL, got->options->value.len, got->options->value.data);
    CHECK(o != NULL);
    CHECK_STR(o->config_path, "/c");
    runtimeoptions__v1__options__free_unpacked(o, NULL);
    CHECK_STR(got->rootfs[0]->options[0], "ro");
    protobuf_c_message_free_unpacked(&got->base, NULL);
}

TEST(shim_runtime_options_field_numbers)
{
    Runtimeoptions__V1__Options o = RUNTIMEOPTIONS__V1__OPTIONS__INIT;
    uint8_t body[] = {'x'};
    o.type_url = "t";
    o.config_path = "/c";
    o.config_body.data = body;
    o.config_body.len = 1;
    CHECK_PACKS(&o, 0x0a, 0x01, 't', 0x12, 0x02, '/', 'c', 0x1a, 0x01, 'x');
}

TEST(shim_state_response_field_numbers)
{
    Containerd__Task__V2__StateResponse st = CONTAINERD__TASK__V2__STATE_RESPONSE__INIT;
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ts.seconds = 1700000000;
    ts.nanos = 5;
    st.id = "c";
    st.bundle = "/b";
    st.pid = 42;
    st.status = CONTAINERD__V1__TYPES__STATUS__STOPPED;
    st.stdin = "i";
    st.stdout = "o";
    st.stderr = "e";
    st.terminal = 1;
    st.exit_status = 1;
    st.exited_at = &ts;
    st.exec_id = "x";
    CHECK_PACKS(&st, 0x0a, 0x01, 'c', 0x12, 0x02, '/', 'b', 0x18, 0x2a, /* 1 id, 2 bundle, 3 pid */
                0x20, 0x03,                                             /* 4 status STOPPED */
                0x2a, 0x01, 'i', 0x32, 0x01, 'o', 0x3a, 0x01, 'e',      /* 5 6 7 stdio */
                0x40, 0x01, 0x48, 0x01, /* 8 terminal, 9 exit_status */
                0x52, 0x08, 0x08, 0x80, 0xe2, 0xcf, 0xaa, 0x06, 0x10, 0x05, /* 10 exited_at */
                0x5a, 0x01, 'x');                                           /* 11 exec_id */

    CHECK_INT(CONTAINERD__V1__TYPES__STATUS__UNKNOWN, 0);
    CHECK_INT(CONTAINERD__V1__TYPES__STATUS__CREATED, 1);
    CHECK_INT(CONTAINERD__V1__TYPES__STATUS__RUNNING, 2);
    CHECK_INT(CONTAINERD__V1__TYPES__STATUS__STOPPED, 3);
    CHECK_INT(CONTAINERD__V1__TYPES__STATUS__PAUSED, 4);
    CHECK_INT(CONTAINERD__V1__TYPES__STATUS__PAUSING, 5);
}

TEST(shim_delete_wait_kill_exec_field_numbers)
{
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ts.seconds = 1;

    Containerd__Task__V2__DeleteResponse dr = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
    dr.pid = 7;
    dr.exit_status = 137;
    dr.exited_at = &ts;
    CHECK_PACKS(&dr, 0x08, 0x07, 0x10, 0x89, 0x01, 0x1a, 0x02, 0x08, 0x01);

    Containerd__Task__V2__DeleteRequest dq = CONTAINERD__TASK__V2__DELETE_REQUEST__INIT;
    dq.id = "c";
    dq.exec_id = "x";
    CHECK_PACKS(&dq, 0x0a, 0x01, 'c', 0x12, 0x01, 'x');

    Containerd__Task__V2__WaitResponse wr = CONTAINERD__TASK__V2__WAIT_RESPONSE__INIT;
    wr.exit_status = 1;
    wr.exited_at = &ts;
    CHECK_PACKS(&wr, 0x08, 0x01, 0x12, 0x02, 0x08, 0x01);

    Containerd__Task__V2__KillRequest kr = CONTAINERD__TASK__V2__KILL_REQUEST__INIT;
    kr.id = "c";
    kr.exec_id = "x";
    kr.signal = 9;
    kr.all = 1;
    CHECK_PACKS(&kr, 0x0a, 0x01, 'c', 0x12, 0x01, 'x', 0x18, 0x09, 0x20, 0x01);

    Containerd__Task__V2__ExecProcessRequest ex = CONTAINERD__TASK__V2__EXEC_PROCESS_REQUEST__INIT;
    Google__Protobuf__Any spec = GOOGLE__PROTOBUF__ANY__INIT;
    spec.type_url = "p";
    ex.id = "c";
    ex.exec_id = "x";
    ex.terminal = 1;
    ex.stdin = "i";
    ex.stdout = "o";
    ex.stderr = "e";
    ex.spec = &spec;
    CHECK_PACKS(&ex, 0x0a, 0x01, 'c', 0x12, 0x01, 'x', 0x18, 0x01, 0x22, 0x01, 'i', 0x2a, 0x01, 'o',
                0x32, 0x01, 'e', 0x3a, 0x03, 0x0a, 0x01, 'p');

    Containerd__Task__V2__ResizePtyRequest rp = CONTAINERD__TASK__V2__RESIZE_PTY_REQUEST__INIT;
    rp.id = "c";
    rp.width = 80;
    rp.height = 24;
    CHECK_PACKS(&rp, 0x0a, 0x01, 'c', 0x18, 80, 0x20, 24);

    Containerd__Task__V2__CloseIORequest ci = CONTAINERD__TASK__V2__CLOSE_IOREQUEST__INIT;
    ci.id = "c";
    ci.stdin = 1;
    CHECK_PACKS(&ci, 0x0a, 0x01, 'c', 0x18, 0x01);

    Containerd__Task__V2__ConnectResponse cr = CONTAINERD__TASK__V2__CONNECT_RESPONSE__INIT;
    cr.shim_pid = 1;
    cr.task_pid = 2;
    cr.version = "v";
    CHECK_PACKS(&cr, 0x08, 0x01, 0x10, 0x02, 0x1a, 0x01, 'v');

    Containerd__Task__V2__ShutdownRequest sd = CONTAINERD__TASK__V2__SHUTDOWN_REQUEST__INIT;
    sd.id = "c";
    sd.now = 1;
    CHECK_PACKS(&sd, 0x0a, 0x01, 'c', 0x10, 0x01);

    Containerd__Task__V2__StartResponse sr = CONTAINERD__TASK__V2__START_RESPONSE__INIT;
    sr.pid = 3;
    CHECK_PACKS(&sr, 0x08, 0x03);

    Containerd__V1__Types__ProcessInfo pi = CONTAINERD__V1__TYPES__PROCESS_INFO__INIT;
    Containerd__V1__Types__ProcessInfo *pis[] = {&pi};
    Containerd__Task__V2__PidsResponse pr = CONTAINERD__TASK__V2__PIDS_RESPONSE__INIT;
    pi.pid = 5;
    pr.n_processes = 1;
    pr.processes = pis;
    CHECK_PACKS(&pr, 0x0a, 0x02, 0x08, 0x05);

    Containerd__Task__V2__UpdateTaskRequest ut = CONTAINERD__TASK__V2__UPDATE_TASK_REQUEST__INIT;
    Google__Protobuf__Any res = GOOGLE__PROTOBUF__ANY__INIT;
    Containerd__Task__V2__UpdateTaskRequest__AnnotationsEntry ae =
        CONTAINERD__TASK__V2__UPDATE_TASK_REQUEST__ANNOTATIONS_ENTRY__INIT;
    Containerd__Task__V2__UpdateTaskRequest__AnnotationsEntry *aes[] = {&ae};
    res.type_url = "r";
    ae.key = "k";
    ae.value = "v";
    ut.id = "c";
    ut.resources = &res;
    ut.n_annotations = 1;
    ut.annotations = aes;
    CHECK_PACKS(&ut, 0x0a, 0x01, 'c', 0x12, 0x03, 0x0a, 0x01, 'r', 0x1a, 0x06, 0x0a, 0x01, 'k',
                0x12, 0x01, 'v');
}

TEST(shim_task_events_field_numbers)
{
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ts.seconds = 1;
    ts.nanos = 2;

    Containerd__Events__TaskExit te = CONTAINERD__EVENTS__TASK_EXIT__INIT;
    te.container_id = "c";
    te.id = "c";
    te.pid = 7;
    te.exit_status = 2;
    te.exited_at = &ts;
    CHECK_PACKS(&te, 0x0a, 0x01, 'c', 0x12, 0x01, 'c', 0x18, 0x07, 0x20, 0x02, 0x2a, 0x04, 0x08,
                0x01, 0x10, 0x02);
    CHECK_STR(containerd__events__task_exit__descriptor.name, "containerd.events.TaskExit");

    Containerd__Events__TaskCreate tc = CONTAINERD__EVENTS__TASK_CREATE__INIT;
    Containerd__Events__TaskIO io = CONTAINERD__EVENTS__TASK_IO__INIT;
    io.stdout = "o";
    io.terminal = 1;
    tc.container_id = "c";
    tc.bundle = "/b";
    tc.io = &io;
    tc.checkpoint = "k";
    tc.pid = 9;
    CHECK_PACKS(&tc, 0x0a, 0x01, 'c', 0x12, 0x02, '/', 'b', 0x22, 0x05, 0x12, 0x01, 'o', 0x20, 0x01,
                0x2a, 0x01, 'k', 0x30, 0x09);

    Containerd__Events__TaskStart ts2 = CONTAINERD__EVENTS__TASK_START__INIT;
    ts2.container_id = "c";
    ts2.pid = 9;
    CHECK_PACKS(&ts2, 0x0a, 0x01, 'c', 0x10, 0x09);

    Containerd__Events__TaskDelete td = CONTAINERD__EVENTS__TASK_DELETE__INIT;
    td.container_id = "c";
    td.pid = 9;
    td.exit_status = 1;
    td.exited_at = &ts;
    td.id = "x";
    CHECK_PACKS(&td, 0x0a, 0x01, 'c', 0x10, 0x09, 0x18, 0x01, 0x22, 0x04, 0x08, 0x01, 0x10, 0x02,
                0x2a, 0x01, 'x');

    Containerd__Events__TaskExecStarted es = CONTAINERD__EVENTS__TASK_EXEC_STARTED__INIT;
    es.container_id = "c";
    es.exec_id = "x";
    es.pid = 4;
    CHECK_PACKS(&es, 0x0a, 0x01, 'c', 0x12, 0x01, 'x', 0x18, 0x04);

    Containerd__Events__TaskExecAdded ea = CONTAINERD__EVENTS__TASK_EXEC_ADDED__INIT;
    ea.container_id = "c";
    ea.exec_id = "x";
    CHECK_PACKS(&ea, 0x0a, 0x01, 'c', 0x12, 0x01, 'x');

    Containerd__Events__TaskOOM oom = CONTAINERD__EVENTS__TASK_OOM__INIT;
    oom.container_id = "c";
    CHECK_PACKS(&oom, 0x0a, 0x01, 'c');

    Containerd__Events__TaskCheckpointed ck = CONTAINERD__EVENTS__TASK_CHECKPOINTED__INIT;
    ck.container_id = "c";
    ck.checkpoint = "k";
    CHECK_PACKS(&ck, 0x0a, 0x01, 'c', 0x12, 0x01, 'k');

    CHECK_STR(containerd__events__task_create__descriptor.name, "containerd.events.TaskCreate");
    CHECK_STR(containerd__events__task_start__descriptor.name, "containerd.events.TaskStart");
    CHECK_STR(containerd__events__task_delete__descriptor.name, "containerd.events.TaskDelete");
    CHECK_STR(containerd__events__task_oom__descriptor.name, "containerd.events.TaskOOM");
    CHECK_STR(containerd__events__task_exec_added__descriptor.name,
              "containerd.events.TaskExecAdded");
    CHECK_STR(containerd__events__task_exec_started__descriptor.name,
              "containerd.events.TaskExecStarted");
    CHECK_STR(containerd__events__task_paused__descriptor.name, "containerd.events.TaskPaused");
    CHECK_STR(containerd__events__task_resumed__descriptor.name, "containerd.events.TaskResumed");
    CHECK_STR(containerd__events__task_checkpointed__descriptor.name,
              "containerd.events.TaskCheckpointed");
}

TEST(shim_event_forward_envelope_field_numbers)
{
    Containerd__Services__Events__Ttrpc__V1__ForwardRequest fr =
        CONTAINERD__SERVICES__EVENTS__TTRPC__V1__FORWARD_REQUEST__INIT;
    Containerd__Services__Events__Ttrpc__V1__Envelope env =
        CONTAINERD__SERVICES__EVENTS__TTRPC__V1__ENVELOPE__INIT;
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    Google__Protobuf__Any ev = GOOGLE__PROTOBUF__ANY__INIT;
    uint8_t val[] = {0x08, 0x01};
    ts.seconds = 1;
    ev.type_url = "u";
    ev.value.data = val;
    ev.value.len = 2;
    env.timestamp = &ts;
    env.namespace_ = "n";
    env.topic = "/t";
    env.event = &ev;
    fr.envelope = &env;
    CHECK_PACKS(&fr, 0x0a, 0x14, 0x0a, 0x02, 0x08, 0x01,              /* 1 timestamp */
                0x12, 0x01, 'n',                                      /* 2 namespace */
                0x1a, 0x02, '/', 't',                                 /* 3 topic */
                0x22, 0x07, 0x0a, 0x01, 'u', 0x12, 0x02, 0x08, 0x01); /* 4 event (Any) */
}

TEST(google_any_and_timestamp_field_numbers)
{
    /* What "containerd publish" reads on stdin: a bare Any. */
    Google__Protobuf__Any a = GOOGLE__PROTOBUF__ANY__INIT;
    uint8_t v[] = {0x0a, 0x01, 'c'};
    a.type_url = "containerd.events.TaskOOM";
    a.value.data = v;
    a.value.len = 3;
    CHECK_PACKS(&a, 0x0a, 0x19, 'c', 'o', 'n', 't', 'a', 'i', 'n', 'e', 'r', 'd', '.', 'e', 'v',
                'e', 'n', 't', 's', '.', 'T', 'a', 's', 'k', 'O', 'O', 'M', 0x12, 0x03, 0x0a, 0x01,
                'c');

    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ts.seconds = 1700000000;
    ts.nanos = 999999999;
    CHECK_PACKS(&ts, 0x08, 0x80, 0xe2, 0xcf, 0xaa, 0x06, 0x10, 0xff, 0x93, 0xeb, 0xdc, 0x03);
}
