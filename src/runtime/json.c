/* A TOML document printed as JSON (kata-runtime env --json).  The documents
 * printed here hold only tables, arrays, strings, integers and booleans. */
#include "runtime.h"

#include <inttypes.h>
#include <string.h>

static void json_string(const char *s, size_t len, FILE *out)
{
    fputc('"', out);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", out);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void indent(int depth, FILE *out)
{
    for (int i = 0; i < depth; i++)
        fputs("  ", out);
}

static void json_value(const struct toml_value *v, int depth, FILE *out)
{
    size_t len;
    switch (toml_type(v)) {
    case TOML_TABLE:
        fputc('{', out);
        for (size_t i = 0; i < toml_table_length(v); i++) {
            fputs(i ? ",\n" : "\n", out);
            indent(depth + 1, out);
            const char *key = toml_table_key(v, i, &len);
            json_string(key, len, out);
            fputs(": ", out);
            json_value(toml_table_value(v, i), depth + 1, out);
        }
        if (toml_table_length(v)) {
            fputc('\n', out);
            indent(depth, out);
        }
        fputc('}', out);
        break;
    case TOML_ARRAY:
        fputc('[', out);
        for (size_t i = 0; i < toml_array_length(v); i++) {
            if (i)
                fputs(", ", out);
            json_value(toml_array_get(v, i), depth + 1, out);
        }
        fputc(']', out);
        break;
    case TOML_STRING: {
        const char *s = toml_string(v, &len);
        json_string(s, len, out);
        break;
    }
    case TOML_INTEGER:
        fprintf(out, "%" PRId64, toml_integer(v));
        break;
    case TOML_BOOLEAN:
        fputs(toml_boolean(v) ? "true" : "false", out);
        break;
    case TOML_FLOAT:
        fprintf(out, "%.17g", toml_float(v));
        break;
    case TOML_DATETIME:
        json_string(toml_datetime(v)->text ? toml_datetime(v)->text : "",
                    toml_datetime(v)->text ? strlen(toml_datetime(v)->text) : 0, out);
        break;
    }
}

void toml_print_json(const struct toml_value *v, FILE *out)
{
    json_value(v, 0, out);
    fputc('\n', out);
}
