/* kata-runtime list [--format table|json] [--quiet]: the containers under
 * --root, as runc lists them. */
#include "config.h"
#include "container.h"
#include "runtime.h"

#include <getopt.h>
#include <json-c/json.h>
#include <string.h>

int cmd_list(int argc, char **argv)
{
    static const struct option options[] = {
        {"format", required_argument, NULL, 'f'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *format = "table";
    bool quiet = false;
    int c;
    optind = 0;
    while ((c = getopt_long_only(argc, argv, "+f:qh", options, NULL)) != -1) {
        if (c == 'f') {
            format = optarg;
        } else if (c == 'q') {
            quiet = true;
        } else if (c == 'h') {
            printf("Usage: kata-runtime list [--format table|json] [--quiet]\n");
            return 0;
        } else {
            return 1;
        }
    }
    bool json = strcmp(format, "json") == 0;
    if (!json && strcmp(format, "table") != 0)
        return runtime_fail_msg("invalid format option \"%s\"", format);
    if (optind != argc)
        return runtime_fail_msg("\"list\" takes no arguments");
    cleanup_kerr struct kerr *err = NULL;
    char **ids = state_list_ids(&err);
    if (!ids)
        return runtime_fail(&err);
    if (quiet) {
        for (size_t i = 0; ids[i]; i++)
            printf("%s\n", ids[i]);
        kata_strv_free(ids);
        return 0;
    }
    struct json_object *all = json_object_new_array();
    for (size_t i = 0; ids[i]; i++) {
        struct container ct;
        if (container_open(ids[i], &ct, &err) < 0) {
            kerr_clear(&err); /* deleted meanwhile */
            continue;
        }
        json_object_array_add(all, container_state_json(&ct));
        container_close(&ct);
    }
    kata_strv_free(ids);
    size_t n = json_object_array_length(all);
    if (json) {
        /* runc prints `null` for no containers. */
        printf("%s\n", n ? json_object_to_json_string_ext(all, JSON_C_TO_STRING_PLAIN |
                                                                   JSON_C_TO_STRING_NOSLASHESCAPE)
                         : "null");
    } else {
        printf("%-12s %-10s %-10s %-40s %-31s %s\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED",
               "OWNER");
        for (size_t i = 0; i < n; i++) {
            struct json_object *o = json_object_array_get_idx(all, i), *v;
#define FIELD(k) (json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "")
            printf("%-12s ", FIELD("id"));
            printf("%-10s ", FIELD("pid"));
            printf("%-10s ", FIELD("status"));
            printf("%-40s ", FIELD("bundle"));
            printf("%-31s ", FIELD("created"));
            printf("%s\n", FIELD("owner"));
#undef FIELD
        }
    }
    json_object_put(all);
    return 0;
}
