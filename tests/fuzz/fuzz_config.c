/* libFuzzer target: arbitrary bytes as a configuration file.  Whatever
 * parses as TOML goes through validation (assets not required to exist) and,
 * when it validates, through annotation overrides taken from the input's
 * last lines.  Every failure must come with a message. */
#include "config.h"
#include "toml.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

static void check_err(const struct kerr *err)
{
    if (err == NULL || err->msg == NULL || err->msg[0] == '\0')
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cleanup_kerr struct kerr *err = NULL;
    cleanup_toml struct toml_value *doc = toml_parse((const char *)data, size, "fuzz.toml", &err);
    if (doc == NULL) {
        check_err(err);
        return 0;
    }
    cleanup_kata_config struct kata_config *cfg =
        kata_config_from_toml(doc, "fuzz.toml", KATA_CONFIG_SKIP_ASSETS, &err);
    if (cfg == NULL) {
        check_err(err);
        return 0;
    }
    /* Annotations: "key=value" pairs from the bytes after the last NUL. */
    const char *tail = memrchr(data, '\0', size);
    if (tail == NULL)
        return 0;
    tail++;
    size_t tail_len = size - (size_t)(tail - (const char *)data);
    cleanup_free char *text = xstrndup(tail, tail_len);
    char *eq = strchr(text, '=');
    if (eq == NULL)
        return 0;
    *eq = '\0';
    const char *key = text, *value = eq + 1;
    cleanup_kerr struct kerr *err2 = NULL;
    if (kata_config_apply_annotations(cfg, &key, &value, 1, KATA_CONFIG_SKIP_ASSETS, &err2) < 0)
        check_err(err2);
    return 0;
}
