/* libFuzzer target: the container paths and mount options the agent takes
 * from the host's OCI spec.  Bytes up to the first NUL are a mount
 * destination resolved inside a rootfs; the rest, split at commas, are mount
 * options.  A resolved path must stay under the root with no ".." left. */
#include "rootfs.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROOT "/nonexistent-fuzz-root"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cleanup_free char *path = xstrndup((const char *)data, size);
    size_t first = strlen(path);
    cleanup_kerr struct kerr *err = NULL;
    cleanup_free char *full = rootfs_resolve(ROOT, path, &err);
    if (full == NULL) {
        if (err == NULL || err->msg == NULL)
            abort();
    } else {
        const char *rel = full + strlen(ROOT);
        size_t len = strlen(rel);
        if (strncmp(full, ROOT, strlen(ROOT)) != 0 || rel[0] != '/' || strstr(rel, "/../") ||
            (len >= 3 && strcmp(rel + len - 3, "/..") == 0) || strstr(rel, "//")) {
            fprintf(stderr, "`%s` resolved to `%s`\n", path, full);
            abort();
        }
    }
    if (first >= size)
        return 0;
    cleanup_free char *rest = xstrndup((const char *)data + first + 1, size - first - 1);
    char *opts[64];
    size_t n = 0;
    char *save = NULL;
    for (char *o = strtok_r(rest, ",", &save); o && n < 64; o = strtok_r(NULL, ",", &save))
        opts[n++] = o;
    struct mount_options mo;
    rootfs_parse_options(opts, n, &mo);
    free(mo.data);
    return 0;
}
