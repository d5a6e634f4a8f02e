/* libFuzzer target: arbitrary bytes into the TOML parser.  Whatever parses
 * must write back to text that parses to an equal document, and merging a
 * document into a copy of itself must change nothing. */
#include "toml.h"
#include "util.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cleanup_kerr struct kerr *err = NULL;
    cleanup_toml struct toml_value *doc = toml_parse((const char *)data, size, "fuzz", &err);
    if (doc == NULL) {
        if (err == NULL || err->msg == NULL)
            abort();
        return 0;
    }
    size_t len = 0;
    cleanup_free char *text = toml_write_string(doc, &len);
    cleanup_kerr struct kerr *err2 = NULL;
    cleanup_toml struct toml_value *again = toml_parse(text, len, "written", &err2);
    if (again == NULL) {
        fprintf(stderr, "written document does not parse: %s\n---\n%s---\n", err2->msg, text);
        abort();
    }
    if (!toml_equal(doc, again)) {
        fprintf(stderr, "written document differs:\n---\n%s---\n", text);
        abort();
    }
    if (toml_merge(again, doc, NULL) < 0 || !toml_equal(doc, again))
        abort();
    /* The first line doubles as a lookup path. */
    size_t n = 0;
    while (n < size && n < 256 && data[n] != '\n')
        n++;
    cleanup_free char *path = xstrndup((const char *)data, n);
    const struct toml_value *v = toml_get_path(doc, path);
    if (v != NULL && toml_type(v) == TOML_STRING && toml_string(v, NULL) == NULL)
        abort();
    return 0;
}
