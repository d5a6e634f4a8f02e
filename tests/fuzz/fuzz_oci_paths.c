/* libFuzzer target: the spec strings the agent turns into paths.  Bytes up
 * to the first NUL are a linux.cgroupsPath, the rest a container id; the
 * whole input is also a sysctl key.  Whatever is accepted must be a clean
 * relative path: no "..", no empty or "." component, no leading '/'. */
#include "cgroup.h"
#include "oci_security_internal.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

static void check_relative(const char *what, const char *input, const char *path)
{
    bool bad = path[0] == '\0' || path[0] == '/' || path[strlen(path) - 1] == '/' ||
               strstr(path, "//") != NULL;
    cleanup_free char *copy = xstrdup(path);
    char *save = NULL;
    for (char *part = strtok_r(copy, "/", &save); part && !bad; part = strtok_r(NULL, "/", &save))
        bad = strcmp(part, "..") == 0 || strcmp(part, ".") == 0;
    if (bad) {
        fprintf(stderr, "%s: `%s` gave unsafe `%s`\n", what, input, path);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cleanup_free char *text = xstrndup((const char *)data, size);
    size_t first = strlen(text);
    const char *id = first < size ? (const char *)data + first + 1 : "id";
    cleanup_free char *id_copy = xstrndup(id, first < size ? size - first - 1 : 2);

    cleanup_kerr struct kerr *err = NULL;
    cleanup_free char *rel = cgroup_path_from_spec(text, id_copy, &err);
    if (rel)
        check_relative("cgroup path", text, rel);
    else if (err == NULL || err->msg == NULL)
        abort();

    cleanup_kerr struct kerr *err2 = NULL;
    cleanup_free char *sysctl = oci_sysctl_path(text, &err2);
    if (sysctl)
        check_relative("sysctl", text, sysctl);
    else if (err2 == NULL || err2->msg == NULL)
        abort();
    return 0;
}
