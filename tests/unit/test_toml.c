/* TOML 1.0.0: the specification's examples section by section (valid ones
 * compared against a canonical dump, invalid ones against their message and
 * position), positions, the API, merge and the writer's round trip. */
#include "test.h"
#include "toml.h"
#include "util.h"

#include <math.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

/* ---- a canonical dump to compare documents against ---- */

struct dump {
    char *s;
    size_t len, cap;
};

static void dump_add(struct dump *d, const char *s, size_t n)
{
    if (d->len + n + 1 > d->cap) {
        d->cap = (d->len + n + 1) * 2;
        d->s = xrealloc(d->s, d->cap);
    }
    memcpy(d->s + d->len, s, n);
    d->len += n;
    d->s[d->len] = '\0';
}

static void dump_str(struct dump *d, const char *s)
{
    dump_add(d, s, strlen(s));
}

static void dump_quoted(struct dump *d, const char *s, size_t n)
{
    dump_add(d, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char tmp[8];
        if (c == '"' || c == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)c;
            dump_add(d, tmp, 2);
        } else if (c == '\n') {
            dump_str(d, "\\n");
        } else if (c == '\t') {
            dump_str(d, "\\t");
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(tmp, sizeof(tmp), "\\x%02x", c);
            dump_str(d, tmp);
        } else {
            dump_add(d, s + i, 1);
        }
    }
    dump_add(d, "\"", 1);
}

static void dump_value(struct dump *d, const struct toml_value *v)
{
    char tmp[64];
    switch (toml_type(v)) {
    case TOML_TABLE:
        dump_str(d, "{");
        for (size_t i = 0; i < toml_table_length(v); i++) {
            size_t n;
            const char *key = toml_table_key(v, i, &n);
            if (i > 0)
                dump_str(d, ",");
            bool bare = n > 0 && strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                             "0123456789_-") == n;
            if (bare)
                dump_add(d, key, n);
            else
                dump_quoted(d, key, n);
            dump_str(d, "=");
            dump_value(d, toml_table_value(v, i));
        }
        dump_str(d, "}");
        break;
    case TOML_ARRAY:
        dump_str(d, "[");
        for (size_t i = 0; i < toml_array_length(v); i++) {
            if (i > 0)
                dump_str(d, ",");
            dump_value(d, toml_array_get(v, i));
        }
        dump_str(d, "]");
        break;
    case TOML_STRING: {
        size_t n;
        const char *s = toml_string(v, &n);
        dump_quoted(d, s, n);
        break;
    }
    case TOML_INTEGER:
        snprintf(tmp, sizeof(tmp), "%lld", (long long)toml_integer(v));
        dump_str(d, tmp);
        break;
    case TOML_FLOAT: {
        double f = toml_float(v);
        if (isnan(f)) {
            snprintf(tmp, sizeof(tmp), "f:%snan", signbit(f) ? "-" : "");
        } else {
            for (int p = 1; p <= 17; p++) {
                snprintf(tmp, sizeof(tmp), "f:%.*g", p, f);
                if (strtod(tmp + 2, NULL) == f)
                    break;
            }
        }
        dump_str(d, tmp);
        break;
    }
    case TOML_BOOLEAN:
        dump_str(d, toml_boolean(v) ? "true" : "false");
        break;
    case TOML_DATETIME: {
        static const char *const kinds[] = {"odt", "ldt", "ld", "lt"};
        const struct toml_datetime *dt = toml_datetime(v);
        snprintf(tmp, sizeof(tmp), "%s:%s", kinds[dt->kind], dt->text);
        dump_str(d, tmp);
        break;
    }
    }
}

static char *dump(const struct toml_value *v)
{
    struct dump d = {0};
    dump_add(&d, "", 0);
    dump_value(&d, v);
    return d.s;
}

/* ---- table-driven cases ---- */

struct valid_case {
    const char *input;
    const char *expected; /* the dump */
};

struct invalid_case {
    const char *input;
    const char *error; /* the whole message after "t.toml:" */
};

static struct toml_value *parse(const char *text, struct kerr **e)
{
    return toml_parse(text, strlen(text), "t.toml", e);
}

/* Parse, compare the dump, then write, parse again and compare. */
static int check_valid(const struct valid_case *c)
{
    cleanup_kerr struct kerr *e = NULL;
    cleanup_toml struct toml_value *doc = parse(c->input, &e);
    if (doc == NULL) {
        printf("#   input: %s\n#   error: %s\n", c->input, e->msg);
        return -1;
    }
    cleanup_free char *got = dump(doc);
    if (strcmp(got, c->expected) != 0) {
        printf("#   input: %s\n#   got:      %s\n#   expected: %s\n", c->input, got, c->expected);
        return -1;
    }
    size_t len;
    cleanup_free char *text = toml_write_string(doc, &len);
    cleanup_toml struct toml_value *again = toml_parse(text, len, "written", &e);
    if (again == NULL || !toml_equal(doc, again)) {
        printf("#   input: %s\n#   written: %s\n#   %s\n", c->input, text,
               again ? "differs" : e->msg);
        return -1;
    }
    return 0;
}

static int check_invalid(const struct invalid_case *c)
{
    cleanup_kerr struct kerr *e = NULL;
    cleanup_toml struct toml_value *doc = parse(c->input, &e);
    if (doc != NULL) {
        printf("#   input: %s\n#   parsed, expected error: %s\n", c->input, c->error);
        return -1;
    }
    cleanup_free char *want = xasprintf("t.toml:%s", c->error);
    if (strcmp(e->msg, want) != 0) {
        printf("#   input: %s\n#   error:    %s\n#   expected: %s\n", c->input, e->msg, want);
        return -1;
    }
    return 0;
}

#define CHECK_VALID(cases)                                                                         \
    do {                                                                                           \
        for (size_t _i = 0; _i < ARRAY_SIZE(cases); _i++)                                          \
            CHECK(check_valid(&(cases)[_i]) == 0);                                                 \
    } while (0)

#define CHECK_INVALID(cases)                                                                       \
    do {                                                                                           \
        for (size_t _i = 0; _i < ARRAY_SIZE(cases); _i++)                                          \
            CHECK(check_invalid(&(cases)[_i]) == 0);                                               \
    } while (0)

/* ---- the specification, section by section ---- */

TEST(spec_comments)
{
    static const struct valid_case valid[] = {
        {"# This is a full-line comment\n"
         "key = \"value\"  # This is a comment at the end of a line\n"
         "another = \"# This is not a comment\"\n",
         "{key=\"value\",another=\"# This is not a comment\"}"},
        {"#\tcomment with a tab and ünïcödé\n", "{}"},
        {"a = 1#no space\n#", "{a=1}"},
    };
    static const struct invalid_case invalid[] = {
        {"# bell \x07 in a comment\n", "1:8: control character U+0007 is not allowed in a comment"},
        {"a = 1 # del \x7f\n", "1:13: control character U+007F is not allowed in a comment"},
        {"# nul \0", "1:7: control character U+0000 is not allowed in a comment"},
        {"# bad \xc3\x28 utf-8\n", "1:7: invalid UTF-8 in a comment"},
        {"# lone cr \r here\n", "1:11: control character U+000D is not allowed in a comment"},
    };
    CHECK_VALID(valid);
    /* The NUL case needs its length: check it by hand. */
    for (size_t i = 0; i < ARRAY_SIZE(invalid); i++) {
        if (i == 2) {
            cleanup_kerr struct kerr *e = NULL;
            CHECK(toml_parse(invalid[i].input, 8, "t.toml", &e) == NULL);
            CHECK_STR(e->msg, "t.toml:1:7: control character U+0000 is not allowed in a comment");
            continue;
        }
        CHECK(check_invalid(&invalid[i]) == 0);
    }
}

TEST(spec_key_value_pairs)
{
    static const struct valid_case valid[] = {
        {"key = \"value\"", "{key=\"value\"}"},
        {"  key\t=\t\"value\"  \n", "{key=\"value\"}"},
        {"a=1\nb=2\n\n\nc=3", "{a=1,b=2,c=3}"},
    };
    static const struct invalid_case invalid[] = {
        {"key = # INVALID\n", "1:7: expected a value, found `#`"},
        {"key =\n", "1:6: expected a value, found newline"},
        {"key = ", "1:7: expected a value, found end of input"},
        {"first = \"Tom\" last = \"Preston-Werner\" # INVALID\n",
         "1:15: expected a newline after a key/value pair, found `l`"},
        {"= \"no key name\"\n", "1:1: expected a key, found `=`"},
        {"key\n", "1:4: expected `=` after a key, found newline"},
        {"key", "1:4: expected `=` after a key, found end of input"},
        {"key = 1 = 2", "1:9: expected a newline after a key/value pair, found `=`"},
        {"key : 1", "1:5: expected `=` after a key, found `:`"},
    };
    CHECK_VALID(valid);
    CHECK_INVALID(invalid);
}

TEST(spec_keys)
{
    static const struct valid_case valid[] = {
        {"key = \"value\"\nbare_key = \"value\"\nbare-key = \"value\"\n1234 = \"value\"\n",
         "{key=\"value\",bare_key=\"value\",bare-key=\"value\",1234=\"value\"}"},
        {"\"127.0.0.1\" = \"value\"\n\"character encoding\" = \"value\"\n"
         "\"ʎǝʞ\" = \"value\"\n'key2' = \"value\"\n'quoted \"value\"' = \"value\"\n",
         "{\"127.0.0.1\"=\"value\",\"character encoding\"=\"value\",\"ʎǝʞ\"=\"value\","
         "key2=\"value\",\"quoted \\\"value\\\"\"=\"value\"}"},
        {"\"\" = \"blank\"", "{\"\"=\"blank\"}"},
        {"'' = 'blank'", "{\"\"=\"blank\"}"},
        {"name = \"Orange\"\nphysical.color = \"orange\"\nphysical.shape = \"round\"\n"
         "site.\"google.com\" = true\n",
         "{name=\"Orange\",physical={color=\"orange\",shape=\"round\"},site={\"google.com\"=true}"
         "}"},
        {"fruit.name = \"banana\"     # this is best practice\n"
         "fruit. color = \"yellow\"    # same as fruit.color\n"
         "fruit . flavor = \"banana\"   # same as fruit.flavor\n",
         "{fruit={name=\"banana\",color=\"yellow\",flavor=\"banana\"}}"},
        {"fruit.apple.smooth = true\nfruit.orange = 2\n", "{fruit={apple={smooth=true},orange=2}}"},
        {"apple.type = \"fruit\"\norange.type = \"fruit\"\napple.skin = \"thin\"\n"
         "orange.skin = \"thick\"\napple.color = \"red\"\norange.color = \"orange\"\n",
         "{apple={type=\"fruit\",skin=\"thin\",color=\"red\"},"
         "orange={type=\"fruit\",skin=\"thick\",color=\"orange\"}}"},
        {"3.14159 = \"pi\"", "{3={14159=\"pi\"}}"},
        {"true = 1\nfalse = 2\ninf = 3\nnan = 4", "{true=1,false=2,inf=3,nan=4}"},
        {"\"a\\u0000b\" = 1", "{\"a\\x00b\"=1}"},
        {"\"a.b\".c = 1\na.b.c = 2", "{\"a.b\"={c=1},a={b={c=2}}}"},
    };
    static const struct invalid_case invalid[] = {
        {"name = \"Tom\"\nname = \"Pradyun\"\n",
         "2:1: duplicate key `name` (first defined at 1:8)"},
        {"spelling = \"favorite\"\n\"spelling\" = \"favourite\"\n",
         "2:1: duplicate key `spelling` (first defined at 1:12)"},
        {"fruit.apple = 1\nfruit.apple.smooth = true\n",
         "2:7: key `fruit.apple` is already defined as an integer, not a table"},
        {"\"\"\"key\"\"\" = 1", "1:1: a multi-line string cannot be a key"},
        {"'''key''' = 1", "1:1: a multi-line string cannot be a key"},
        {"a..b = 1", "1:3: expected a key, found `.`"},
        {"a. = 1", "1:4: expected a key, found `=`"},
        {".a = 1", "1:1: expected a key, found `.`"},
        {"ke y = 1", "1:4: expected `=` after a key, found `y`"},
        {"k\xc3\xa9y = 1", "1:2: expected `=` after a key, found non-ASCII text"},
        {"\"key = 1", "1:1: unterminated string"},
        {"a.b = 1\na = 2", "2:1: duplicate key `a` (first defined at 1:1)"},
        {"a = 1\na.b = 2", "2:1: key `a` is already defined as an integer, not a table"},
    };
    CHECK_VALID(valid);
    CHECK_INVALID(invalid);
}

TEST(spec_basic_strings)
{
    static const struct valid_case valid[] = {
        {"str = \"I'm a string. \\\"You can quote me\\\". Name\\tJos\\u00E9\\nLocation\\tSF.\"",
         "{str=\"I'm a string. \\\"You can quote me\\\". Name\\tJosé\\nLocation\\tSF.\"}"},
        {"s = \"\\b\\t\\n\\f\\r\\\"\\\\\"", "{s=\"\\x08\\t\\n\\x0c\\x0d\\\"\\\\\"}"},
        {"s = \"\\u00e9\\u20AC\\U0001F600\\U00000041\"", "{s=\"é€😀A\"}"},
        {"s = \"\\uD7FF\\uE000\\U0010FFFF\"", "{s=\"\xed\x9f\xbf\xee\x80\x80\xf4\x8f\xbf\xbf\"}"},
        {"s = \"tab\there\"", "{s=\"tab\\there\"}"},
        {"s = \"\"", "{s=\"\"}"},
        {"s = \"# not a comment\" # a comment", "{s=\"# not a comment\"}"},
        {"s = \"nul \\u0000 inside\"", "{s=\"nul \\x00 inside\"}"},
    };
    static const struct invalid_case invalid[] = {
        {"s = \"\\q\"", "1:6: invalid escape sequence `\\q`"},
        {"s = \"\\x41\"", "1:6: invalid escape sequence `\\x`"},
        {"s = \"\\e\"", "1:6: invalid escape sequence `\\e`"},
        {"s = \"\\ \"", "1:6: invalid escape sequence `\\ `"},
        {"s = \"a\\uD800\"", "1:7: escape `\\uD800` is not a Unicode scalar value"},
        {"s = \"\\uDFFF\"", "1:6: escape `\\uDFFF` is not a Unicode scalar value"},
        {"s = \"\\U00110000\"", "1:6: escape `\\U00110000` is not a Unicode scalar value"},
        {"s = \"\\u12\"", "1:6: `\\u` needs 4 hexadecimal digits"},
        {"s = \"\\U1234567\"", "1:6: `\\U` needs 8 hexadecimal digits"},
        {"s = \"\\u12G4\"", "1:6: `\\u` needs 4 hexadecimal digits"},
        {"s = \"abc\ndef\"", "1:9: newline in a single-line string"},
        {"s = \"abc\r\ndef\"", "1:9: newline in a single-line string"},
        {"s = \"abc", "1:5: unterminated string"},
        {"s = \"a\x01\"", "1:7: control character U+0001 must be escaped in a string"},
        {"s = \"a\x7f\"", "1:7: control character U+007F must be escaped in a string"},
        {"s = \"\xff\"", "1:6: invalid UTF-8 in a string"},
        {"s = \"\xc0\xaf\"", "1:6: invalid UTF-8 in a string"},         /* overlong */
        {"s = \"\xed\xa0\x80\"", "1:6: invalid UTF-8 in a string"},     /* surrogate */
        {"s = \"\xf4\x90\x80\x80\"", "1:6: invalid UTF-8 in a string"}, /* > U+10FFFF */
        {"s = \"\xe2\x82\"", "1:6: invalid UTF-8 in a string"},         /* truncated */
        {"s = \"a\" \"b\"", "1:9: expected a newline after a key/value pair, found `\"`"},
    };
    CHECK_VALID(valid);
    CHECK_INVALID(invalid);
}

TEST(spec_multi_line_basic_strings)
{
    static const struct valid_case valid[] = {
        {"str1 = \"\"\"\nRoses are red\nViolets are blue\"\"\"",
         "{str1=\"Roses are red\\nViolets are blue\"}"},
        {"str1 = \"\"\"\r\nRoses are red\r\nViolets are blue\"\"\"",
         "{str1=\"Roses are red\\nViolets are blue\"}"},
        {"str1 = \"The quick brown fox jumps over the lazy dog.\"\n"
         "str2 = \"\"\"\nThe quick brown \\\n\n\n  fox jumps over \\\n    the lazy dog.\"\"\"\n"
         "str3 = \"\"\"\\\n       The quick brown \\\n       fox jumps over \\\n"
         "       the lazy dog.\\\n       \"\"\"\n",
         "{str1=\"The quick brown fox jumps over the lazy dog.\","
         "str2=\"The quick brown fox jumps over the lazy dog.\","
         "str3=\"The quick brown fox jumps over the lazy dog.\"}"},
        {"s = \"\"\"trailing ws after backslash \\  \t\n  next\"\"\"",
         "{s=\"trailing ws after backslash next\"}"},
        {"s = \"\"\"crlf \\\r\n  next\"\"\"", "{s=\"crlf next\"}"},
        {"str4 = \"\"\"Here are two quotation marks: \"\". Simple enough.\"\"\"\n"
         "str5 = \"\"\"Here are three quotation marks: \"\"\\\".\"\"\"\n"
         "str6 = \"\"\"Here are fifteen quotation marks: "
         "\"\"\\\"\"\"\\\"\"\"\\\"\"\"\\\"\"\"\\\".\"\"\"\n"
         "str7 = \"\"\"\"This,\" she said, \"is just a pointless statement.\"\"\"\"\n",
         "{str4=\"Here are two quotation marks: \\\"\\\". Simple enough.\","
         "str5=\"Here are three quotation marks: \\\"\\\"\\\".\","
         "str6=\"Here are fifteen quotation marks: "
         "\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\".\","
         "str7=\"\\\"This,\\\" she said, \\\"is just a pointless statement.\\\"\"}"},
        {"s = \"\"\"\"\"\"", "{s=\"\"}"},
        {"s = \"\"\"\"\"\"\"\"", "{s=\"\\\"\\\"\"}"},
        {"s = \"\"\"tab\tand \\u00e9\\n\"\"\"", "{s=\"tab\\tand é\\n\"}"},
        {"s = \"\"\"\n\n  two\n\"\"\"", "{s=\"\\n  two\\n\"}"},
    };
    static const struct invalid_case invalid[] = {
        {"str5 = \"\"\"Here are three quotation marks: \"\"\".\"\"\"\n",
         "1:46: expected a newline after a key/value pair, found `.`"},
        {"s = \"\"\"a\"\"\"\"\"\"", "1:14: too many quotes at the end of a multi-line string"},
        {"s = \"\"\"abc", "1:5: unterminated multi-line string"},
        {"s = \"\"\"abc\\  ", "1:5: unterminated multi-line string"},
        {"s = \"\"\"a\rb\"\"\"", "1:9: carriage return not followed by a line feed"},
        {"s = \"\"\"a\x01\"\"\"", "1:9: control character U+0001 must be escaped in a string"},
        {"s = \"\"\"\\q\"\"\"", "1:8: invalid escape sequence `\\q`"},
        {"s = \"\"\"a \\ b\"\"\"", "1:10: invalid escape sequence `\\ `"},
        {"s = \"\"\"\nok\n\\uD801\"\"\"", "3:1: escape `\\uD801` is not a Unicode scalar value"},
    };
    CHECK_VALID(valid);
    CHECK_INVALID(invalid);
}

TEST(spec_literal_strings)
{
    static const struct valid_case valid[] = {
        {"winpath  = 'C:\\Users\\nodejs\\templates'\nwinpath2 = '\\\\ServerX\\admin$\\system32\\'\n"
         "quoted   = 'Tom \"Dubs\" Preston-Werner'\nregex    = '<\\i\\c*\\s*>'\n",
         "{winpath=\"C:\\\\Users\\\\nodejs\\\\templates\","
         "winpath2=\"\\\\\\\\ServerX\\\\admin$\\\\system32\\\\\","
         "quoted=\"Tom \\\"Dubs\\\" Preston-Werner\",regex=\"<\\\\i\\\\c*\\\\s*>\"}"},
        {"regex2 = '''I [dw]on't need \\d{2} apples'''\n"
         "lines  = '''\nThe first newline is\ntrimmed in raw strings.\n   All other whitespace\n"
         "   is preserved.\n'''\n",
         "{regex2=\"I [dw]on't need \\\\d{2} apples\",lines=\"The first newline is\\n"
         "trimmed in raw strings.\\n   All other whitespace\\n   is preserved.\\n\"}"},
        {"quot15 = '''Here are fifteen quotation marks: \"\"\"\"\"\"\"\"\"\"\"\"\"\"\"'''\n"
         "apos15 = \"Here are fifteen apostrophes: '''''''''''''''\"\n"
         "str = ''''That,' she said, 'is still pointless.''''\n",
         "{quot15=\"Here are fifteen quotation marks: "
         "\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\","
         "apos15=\"Here are fifteen apostrophes: '''''''''''''''\","
         "str=\"'That,' she said, 'is still pointless.'\"}"},
        {"s = 'tab\there'", "{s=\"tab\\there\"}"},
        {"s = '''a\r\nb'''", "{s=\"a\\nb\"}"},
        {"s = '''\\ not an escape \\\n'''", "{s=\"\\\\ not an escape \\\\\\n\"}"},
    };
    static const struct invalid_case invalid[] = {
        {"apos15 = '''Here are fifteen apostrophes: ''''''''''''''''''  # INVALID\n",
         "1:48: too many quotes at the end of a multi-line string"},
        {"s = 'a\nb'", "1:7: newline in a single-line string"},
        {"s = 'a\x02'", "1:7: control character U+0002 must be escaped in a string"},
        {"s = 'it''s'", "1:9: expected a newline after a key/value pair, found `'`"},
        {"s = 'abc", "1:5: unterminated string"},
        {"s = '''abc''", "1:5: unterminated multi-line string"},
        {"s = '''a\x7f'''", "1:9: control character U+007F must be escaped in a string"},
        {"s = '\xc3'", "1:6: invalid UTF-8 in a string"},
    };
    CHECK_VALID(valid);
    CHECK_INVALID(invalid);
}

TEST(spec_integers)
{
    static const struct valid_case valid[] = {
        {"int1 = +99\nint2 = 42\nint3 = 0\nint4 = -17\n", "{int1=99,int2=42,int3=0,int4=-17}"},
        {"int5 = 1_000\nint6 = 5_349_221\nint7 = 53_49_221\nint8 = 1_2_3_4_5\n",
         "{int5=1000,int6=5349221,int7=5349221,int8=12345}"},
        {"hex1 = 0xDEADBEEF\nhex2 = 0xdeadbeef\nhex3 = 0xdead_beef\n"
         "oct1 = 0o01234567\noct2 = 0o755\nbin1 = 0b11010110\n",
         "{hex1=3735928559,hex2=3735928559,hex3=3735928559,oct1=342391,oct2=493,bin1=214}"},
        {"a = +0\nb = -0\nc = 0x0\nd = 0o0\ne = 0b0\nf = 0x000_1", "{a=0,b=0,c=0,d=0,e=0,f=1}"},
        {"max = 9223372036854775807\nmin = -9223372036854775808\n"
         "hex = 0x7FFFFFFFFFFFFFFF\noct = 0o777777777777777777777\n"
         "bin = 0b111111111111111111111111111111111111111111111111111111111111111",
         "{max=9223372036854775807,min=-9223372036854775808,hex=9223372036854775807,"
         "oct=9223372036854775807,bin=9223372036854775807}"},
        {"a = [1,-2,+3]", "{a=[1,-2,3]}"},
    };
    static const struct invalid_case invalid[] = {
        {"a = 9223372036854775808", "1:5: integer `9223372036854775808` does not fit in 64 bits"},
        {"a = -9223372036854775809", "1:5: integer `-9223372036854775809` does not fit in 64 bits"},
        {"a = 0x8000000000000000", "1:5: integer `0x8000000000000000` does not fit in 64 bits"},
        {"a = 0b1111111111111111111111111111111111111111111111111111111111111111",
         "1:5: integer `0b1111111111111111111111111111111111111111111111111111111111111111` "
         "does not fit in 64 bits"},
        {"a = 01", "1:5: leading zeros are not allowed in `01`"},
        {"a = -01", "1:5: leading zeros are not allowed in `-01`"},
        {"a = 0_0", "1:5: leading zeros are not allowed in `0_0`"},
        {"a = 1__2", "1:5: misplaced underscore in number `1__2`"},
        {"a = 1_", "1:5: misplaced underscore in number `1_`"},
        {"a = _1", "1:5: invalid value `_1`"},
        {"a = +0x1", "1:5: a hexadecimal, octal or binary integer cannot have a sign"},
        {"a = -0b1", "1:5: a hexadecimal, octal or binary integer cannot have a sign"},
        {"a = 0X1F", "1:5: invalid number `0X1F`"},
        {"a = 0x", "1:5: invalid hexadecimal integer `0x`"},
        {"a = 0xG", "1:5: invalid hexadecimal integer `0xG`"},
        {"a = 0x_1", "1:5: invalid hexadecimal integer `0x_1`"},
        {"a = 0o8", "1:5: invalid octal integer `0o8`"},
        {"a = 0b2", "1:5: invalid binary integer `0b2`"},
        {"a = 0b1_", "1:5: invalid binary integer `0b1_`"},
        {"a = 12x", "1:5: invalid number `12x`"},
        {"a = +", "1:5: invalid number `+`"},
        {"a = 1 2", "1:7: expected a newline after a key/value pair, found `2`"},
        {"a = 1,", "1:6: expected a newline after a key/value pair, found `,`"},
    };
    CHECK_VALID(valid);
    CHECK_INVALID(invalid);
}

TEST(spec_floats)
{
    static const struct valid_case valid[] = {
        {"flt1 = +1.0\nflt2 = 3.1415\nflt3 = -0.01\n", "{flt1=f:1,flt2=f:3.1415,flt3=f:-0.01}"},
        {"flt4 = 5e+22\nflt5 = 1e06\nflt6 = -2E-2\n", "{flt4=f:5e+22,flt5=f:1e+06,flt6=f:-0.02}"},
        {"flt7 = 6.626e-34\n", "{flt7=f:6.626e-34}"},
        {"flt8 = 224_617.445_991_228\n", "{flt8=f:224617.445991228}"},
        {"sf1 = inf\nsf2 = +inf\nsf3 = -inf\n", "{sf1=f:inf,sf2=f:inf,sf3=f:-inf}"},
        {"sf4 = nan\nsf5 = +nan\nsf6 = -nan\n", "{sf4=f:nan,sf5=f:nan,sf6=f:-nan}"},
        {"a = 0.0\nb = -0.0\nc = +0.0\nd = 0e0\ne = 1.5E3\nf = 1e-0_1",
         "{a=f:0,b=f:-0,c=f:0,d=f:0,e=f:1.5e+03,f=f:0.1}"},
        {"a = 1.7976931348623157e308\nb = 4.9e-324\nc = 1e-400",
         "{a=f:1.7976931348623157e+308,b=f:5e-324,c=f:0}"},
    };
    static const struct invalid_case invalid[] = {
        {"invalid_float_1 = .7", "1:19: invalid value `.7`"},
        {"invalid_float_2 = 7.", "1:19: expected digits after the decimal point in `7.`"},
        {"invalid_float_3 = 3.e+20", "1:19: expected digits after the decimal point in `3.e+20`"},
        {"a = 1e", "1:5: expected digits in the exponent of `1e`"},
        {"a = 1e+", "1:5: expected digits in the exponent of `1e+`"},
        {"a = 1.0e_1", "1:5: expected digits in the exponent of `1.0e_1`"},
        {"a = 1._5", "1:5: expected digits after the decimal point in `1._5`"},
        {"a = 1_.5", "1:5: misplaced underscore in number `1_.5`"},
        {"a = 1.5_", "1:5: expected digits after the decimal point in `1.5_`"},
        {"a = 01.5", "1:5: leading zeros are not allowed in `01.5`"},
        {"a = 00e1", "1:5: leading zeros are not allowed in `00e1`"},
        {"a = 1.2.3", "1:5: invalid number `1.2.3`"},
        {"a = 1e400", "1:5: float `1e400` is out of range"},
        {"a = -1e400", "1:5: float `-1e400` is out of range"},
        {"a = infinity", "1:5: invalid value `infinity`"},
        {"a = +infinity", "1:5: invalid number `+infinity`"},
        {"a = Inf", "1:5: invalid value `Inf`"},
        {"a = NaN", "1:5: invalid value `NaN`"},
        {"a = 0x1.5", "1:5: invalid hexadecimal integer `0x1.5`"},
    };
    CHECK_VALID(valid);
    CHECK_INVALID(invalid);
}

TEST(spec_booleans)
{
    static const struct valid_case valid[] = {
        {"bool1 = true\nbool2 = false\n", "{bool1=true,bool2=false}"},
        {"a = [true,false]", "{a=[true,false]}"},
    };
    static const struct invalid_case invalid[] = {
        {"a = True", "1:5: invalid value `True`"},
        {"a = truee", "1:5: invalid value `truee`"},
        {"a = tru", "1:5: invalid value `tru`"},
        {"a = yes", "1:5: invalid value `yes`"},
    };
    CHECK_VALID(valid);
    CHECK_INVALID(invalid);
}

TEST(spec_date_times)
{
    static const struct valid_case valid[] = {
        {"odt1 = 1979-05-27T07:32:00Z\nodt2 = 1979-05-27T00:32:00-07:00\n"
         "odt3 = 1979-05-27T00:32:00.999999-07:00\nodt4 = 1979-05-27 07:32:00Z\n",
         "{odt1=odt:1979-05-27T07:32:00Z,odt2=odt:1979-05-27T00:32:00-07:00,"
         "odt3=odt:1979-05-27T00:32:00.999999-07:00,odt4=odt:1979-05-27 07:32:00Z}"},
        {"ldt1 = 1979-05-27T07:32:00\nldt2 = 1979-05-27T00:32:00.999999\n",
         "{ldt1=ldt:1979-05-27T07:32:00,ldt2=ldt:1979-05-27T00:32:00.999999}"},
        {"ld1 = 1979-05-27\n", "{ld1=ld:1979-05-27}"},
        {"lt1 = 07:32:00\nlt2 = 00:32:00.999999\n", "{lt1=lt:07:32:00,lt2=lt:00:32:00.999999}"},
        {"a = 1979-05-27t07:32:00z\nb = 1979-05-27 07:32:00", "{a=odt:1979-05-27t07:32:00z,"
                                                              "b=ldt:1979-05-27 07:32:00}"},
        {"leap = 2000-02-29\nsecond = 23:59:60\nd = 1979-05-27 # date then comment",
         "{leap=ld:2000-02-29,second=lt:23:59:60,d=ld:1979-05-27}"},
        {"a = [1979-05-27, 07:32:00, 1979-05-27 07:32:00+01:30]",
         "{a=[ld:1979-05-27,lt:07:32:00,odt:1979-05-27 07:32:00+01:30]}"},
    };
    static const struct invalid_case invalid[] = {
        {"a = 1979-13-01", "1:5: month out of range in `1979-13-01`"},
        {"a = 1979-00-01", "1:5: month out of range in `1979-00-01`"},
        {"a = 1979-02-30", "1:5: day out of range in `1979-02-30`"},
        {"a = 1900-02-29", "1:5: day out of range in `1900-02-29`"},
        {"a = 1979-04-31", "1:5: day out of range in `1979-04-31`"},
        {"a = 1979-05-00", "1:5: day out of range in `1979-05-00`"},
        {"a = 1979-05-27T24:00:00", "1:5: time out of range in `1979-05-27T24:00:00`"},
        {"a = 07:60:00", "1:5: time out of range in `07:60:00`"},
        {"a = 07:00:61", "1:5: time out of range in `07:00:61`"},
        {"a = 07:32", "1:5: invalid time in `07:32`"},
        {"a = 1979-05-27T07:32", "1:5: invalid time in `1979-05-27T07:32`"},
        {"a = 1979-05-27T07:32:00.", "1:5: invalid time in `1979-05-27T07:32:00.`"},
        {"a = 1979-05-27T07:32:00+25:00",
         "1:5: time offset out of range in `1979-05-27T07:32:00+25:00`"},
        {"a = 1979-05-27T07:32:00+0100", "1:5: invalid time offset in `1979-05-27T07:32:00+0100`"},
        {"a = 1979-05-27T07:32:00Zjunk", "1:5: invalid time offset in `1979-05-27T07:32:00Zjunk`"},
        {"a = 1979-5-27", "1:5: invalid date `1979-5-27`"},
        {"a = 1979-05-27X07:32:00", "1:5: invalid date-time `1979-05-27X07:32:00`"},
        {"a = 07:32:00Z", "1:5: invalid date-time `07:32:00Z`"},
        {"a = 1979-05-27 07:32", "1:5: invalid time in `1979-05-27 07:32`"},
        {"a = 1979-05-27  07:32:00", "1:17: expected a newline after a key/value pair, found `0`"},
        {"a = 1979-05-27T", "1:5: invalid time in `1979-05-27T`"},
        {"a = 197-05-27", "1:5: invalid number `197-05-27`"},
    };
    CHECK_VALID(valid);
    CHECK_INVALID(invalid);
}

TEST(date_time_fields)
{
    cleanup_kerr struct kerr *e = NULL;
    cleanup_toml struct toml_value *doc =
        parse("a = 1979-05-27T00:32:00.123456789123-07:30\nb = 1979-05-27T07:32:00Z\n"
              "c = 2024-02-29\nd = 23:59:60.5\ne = 1979-05-27 07:32:01",
              &e);
    CHECK(doc != NULL);
    const struct toml_datetime *a = toml_datetime(toml_table_get(doc, "a"));
    CHECK(a != NULL);
    CHECK_INT(a->kind, TOML_OFFSET_DATETIME);
    CHECK_INT(a->year, 1979);
    CHECK_INT(a->month, 5);
    CHECK_INT(a->day, 27);
    CHECK_INT(a->hour, 0);
    CHECK_INT(a->minute, 32);
    CHECK_INT(a->second, 0);
    CHECK_INT(a->nanosecond, 123456789);
    CHECK_INT(a->offset_minutes, -(7 * 60 + 30));
    CHECK_STR(a->text, "1979-05-27T00:32:00.123456789123-07:30");
    const struct toml_datetime *b = toml_datetime(toml_table_get(doc, "b"));
    CHECK_INT(b->kind, TOML_OFFSET_DATETIME);
    CHECK_INT(b->offset_minutes, 0);
    CHECK_INT(b->hour, 7);
    const struct toml_datetime *c = toml_datetime(toml_table_get(doc, "c"));
    CHECK_INT(c->kind, TOML_LOCAL_DATE);
    CHECK_INT(c->day, 29);
    CHECK_INT(c->hour, 0);
    const struct toml_datetime *d = toml_datetime(toml_table_get(doc, "d"));
    CHECK_INT(d->kind, TOML_LOCAL_TIME);
    CHECK_INT(d->year, 0);
    CHECK_INT(d->second, 60);
    CHECK_INT(d->nanosecond, 500000000);
    const struct toml_datetime *dt = toml_datetime(toml_table_get(doc, "e"));
    CHECK_INT(dt->kind, TOML_LOCAL_DATETIME);
    CHECK_INT(dt->second, 1);
}

TEST(spec_arrays)
{
    static const struct valid_case valid[] = {
        {"integers = [ 1, 2, 3 ]\ncolors = [ \"red\", \"yellow\", \"green\" ]\n"
         "nested_arrays_of_ints = [ [ 1, 2 ], [3, 4, 5] ]\n"
         "nested_mixed_array = [ [ 1, 2 ], [\"a\", \"b\", \"c\"] ]\n"
         "string_array = [ \"all\", 'strings', \"\"\"are the same\"\"\", '''type''' ]\n",
         "{integers=[1,2,3],colors=[\"red\",\"yellow\",\"green\"],"
         "nested_arrays_of_ints=[[1,2],[3,4,5]],nested_mixed_array=[[1,2],[\"a\",\"b\",\"c\"]],"
         "string_array=[\"all\",\"strings\",\"are the same\",\"type\"]}"},
        {"numbers = [ 0.1, 0.2, 0.5, 1, 2, 5 ]\ncontributors = [\n"
         "  \"Foo Bar <foo@example.com>\",\n"
         "  { name = \"Baz Qux\", email = \"bazqux@example.com\", url = "
         "\"https://example.com/bazqux\" }\n]\n",
         "{numbers=[f:0.1,f:0.2,f:0.5,1,2,5],"
         "contributors=[\"Foo Bar <foo@example.com>\",{name=\"Baz Qux\","
         "email=\"bazqux@example.com\",url=\"https://example.com/bazqux\"}]}"},
        {"integers2 = [\n  1, 2, 3\n]\n\nintegers3 = [\n  1,\n  2, # this is ok\n]\n",
         "{integers2=[1,2,3],integers3=[1,2]}"},
        {"a = []\nb = [ ]\nc = [\n]\nd = [ # comment\n\n]\ne = [[]]",
         "{a=[],b=[],c=[],d=[],e=[[]]}"},
        {"a = [\r\n1,\r\n2\r\n]", "{a=[1,2]}"},
        {"a = [ { b = 1 }, { b = 2 } ]", "{a=[{b=1},{b=2}]}"},
        {"a = [1,\n# c\n2,\n\n]", "{a=[1,2]}"},
    };
    static const struct invalid_case invalid[] = {
        {"a = [1,,2]", "1:8: expected a value, found `,`"},
        {"a = [,]", "1:6: expected a value, found `,`"},
        {"a = [1 2]", "1:8: expected `,` or `]` in an array, found `2`"},
        {"a = [1, 2", "1:10: expected `,` or `]` in an array, found end of input"},
        {"a = [1, 2\n", "2:1: expected `,` or `]` in an array, found end of input"},
        {"a = [1\n", "2:1: expected `,` or `]` in an array, found end of input"},
        {"a = [1] ]", "1:9: expected a newline after a key/value pair, found `]`"},
        {"a = [1, # c \x01\n]", "1:13: control character U+0001 is not allowed in a comment"},
        {"a = [1\r2]", "1:7: carriage return not followed by a line feed"},
        {"a = [1}", "1:7: expected `,` or `]` in an array, found `}`"},
    };
    CHECK_VALID(valid);
    CHECK_INVALID(invalid);
}

TEST(spec_tables)
{
    static const struct valid_case valid[] = {
        {"[table]", "{table={}}"},
        {"[table-1]\nkey1 = \"some string\"\nkey2 = 123\n\n"
         "[table-2]\nkey1 = \"another string\"\nkey2 = 456\n",
         "{table-1={key1=\"some string\",key2=123},table-2={key1=\"another string\",key2=456}}"},
        {"[dog.\"tater.man\"]\ntype.name = \"pug\"", "{dog={\"tater.man\"={type={name=\"pug\"}}}}"},
        {"[a.b.c]            # this is best practice\n[ d.e.f ]          # same as [d.e.f]\n"
         "[ g .  h  . i ]    # same as [g.h.i]\n[ j . \"ʞ\" . 'l' ]  # same as [j.\"ʞ\".'l']\n",
         "{a={b={c={}}},d={e={f={}}},g={h={i={}}},j={\"ʞ\"={l={}}}}"},
        {"# [x] you\n# [x.y] don't\n# [x.y.z] need these\n[x.y.z.w] # for this to work\n\n"
         "[x] # defining a super-table afterward is ok\n",
         "{x={y={z={w={}}}}}"},
        {"# VALID BUT DISCOURAGED\n[fruit.apple]\n[animal]\n[fruit.orange]\n",
         "{fruit={apple={},orange={}},animal={}}"},
        {"# Top-level table begins.\nname = \"Fido\"\nbreed = \"pug\"\n\n# Top-level table ends.\n"
         "[owner]\nname = \"Regina Dogman\"\nmember_since = 1999-08-04\n",
         "{name=\"Fido\",breed=\"pug\",owner={name=\"Regina Dogman\",member_since=ld:1999-08-04}}"},
        {"fruit.apple.color = \"red\"\n# Defines a table named fruit\n"
         "# Defines a table named fruit.apple\n\nfruit.apple.taste.sweet = true\n"
         "# Defines a table named fruit.apple.taste\n# fruit and fruit.apple were already "
         "created\n",
         "{fruit={apple={color=\"red\",taste={sweet=true}}}}"},
        {"[fruit]\napple.color = \"red\"\napple.taste.sweet = true\n\n"
         "# [fruit.apple]  # INVALID\n# [fruit.apple.taste]  # INVALID\n\n"
         "[fruit.apple.texture]  # you can add sub-tables\nsmooth = true\n",
         "{fruit={apple={color=\"red\",taste={sweet=true},texture={smooth=true}}}}"},
        {"[a.b.c]\nz = 1\n[a]\nb.y = 2", "{a={b={c={z=1},y=2}}}"},
        {"[a]\n[a.b]\n[a.b.c]\n[a.\"b.c\"]", "{a={b={c={}},\"b.c\"={}}}"},
        {"[\"\"]\n\"\" = 1", "{\"\"={\"\"=1}}"},
        {"[a]\r\nb = 1\r\n", "{a={b=1}}"},
    };
    static const struct invalid_case invalid[] = {
        {"[fruit]\napple = \"red\"\n\n[fruit]\norange = \"orange\"\n",
         "4:2: table `fruit` is defined twice (first at 1:1)"},
        {"[fruit]\napple = \"red\"\n\n[fruit.apple]\ntexture = \"smooth\"\n",
         "4:8: key `fruit.apple` is already defined as a string, not a table"},
        {"[fruit]\napple.color = \"red\"\n[fruit.apple]\n",
         "3:8: table `fruit.apple` is already defined by dotted keys at 2:1"},
        {"[fruit]\napple.taste.sweet = true\n[fruit.apple.taste]\n",
         "3:14: table `fruit.apple.taste` is already defined by dotted keys at 2:7"},
        {"a.b = 1\n[a]", "2:2: table `a` is already defined by dotted keys at 1:1"},
        {"[a.b.c]\n  z = 9\n[a]\n  b.c.t = 1\n",
         "4:5: cannot add keys to table `b.c` with dotted keys: it is defined at 1:1"},
        {"[a.b.c.d]\n  z = 9\n[a]\n  b.c.d.k.t = 1\n",
         "4:7: cannot add keys to table `b.c.d` with dotted keys: it is defined at 1:1"},
        {"[a]\nb.c = 1\n[x]\n[a]", "4:2: table `a` is defined twice (first at 1:1)"},
        {"[a]\nb.c = 1\n[a.b]", "3:4: table `a.b` is already defined by dotted keys at 2:1"},
        {"[a.b]\n[a]\n[a]", "3:2: table `a` is defined twice (first at 2:1)"},
        {"[a]\nb = 1\n[a.b.c]", "3:4: key `a.b` is already defined as an integer, not a table"},
        {"[]", "1:2: expected a key, found `]`"},
        {"[a", "1:3: expected `]` after a table header, found end of input"},
        {"[a.]", "1:4: expected a key, found `]`"},
        {"[a]b = 1", "1:4: expected a newline after a table header, found `b`"},
        {"[a] [b]", "1:5: expected a newline after a table header, found `[`"},
        {"[a\nb]", "1:3: expected `]` after a table header, found newline"},
        {"[\"\"\"a\"\"\"]", "1:2: a multi-line string cannot be a key"},
        {"[a]\nx = 1\n[a]\ny = 2", "3:2: table `a` is defined twice (first at 1:1)"},
    };
    CHECK_VALID(valid);
    CHECK_INVALID(invalid);
}

TEST(spec_inline_tables)
{
    static const struct valid_case valid[] = {
        {"name = { first = \"Tom\", last = \"Preston-Werner\" }\npoint = { x = 1, y = 2 }\n"
         "animal = { type.name = \"pug\" }\n",
         "{name={first=\"Tom\",last=\"Preston-Werner\"},point={x=1,y=2},"
         "animal={type={name=\"pug\"}}}"},
        {"[name]\nfirst = \"Tom\"\nlast = \"Preston-Werner\"\n\n[point]\nx = 1\ny = 2\n\n"
         "[animal]\ntype.name = \"pug\"\n",
         "{name={first=\"Tom\",last=\"Preston-Werner\"},point={x=1,y=2},"
         "animal={type={name=\"pug\"}}}"},
        {"a = {}\nb = { }\nc = {a.b = 1, a.c = 2}", "{a={},b={},c={a={b=1,c=2}}}"},
        {"a = { b = [\n1,\n2] }", "{a={b=[1,2]}}"},
        {"a = { s = \"\"\"x\ny\"\"\" }", "{a={s=\"x\\ny\"}}"},
        {"a = {b = {c = {d = 1}}}", "{a={b={c={d=1}}}}"},
        {"[tbl]\na.b.c = {d.e=1}\n[[arr]]\nt = {a.b=1}\n[[arr]]\nt = {a.b=2}",
         "{tbl={a={b={c={d={e=1}}}}},arr=[{t={a={b=1}}},{t={a={b=2}}}]}"},
    };
    static const struct invalid_case invalid[] = {
        {"[product]\ntype = { name = \"Nail\" }\ntype.edible = false  # INVALID\n",
         "3:1: cannot add keys to inline table `type`"},
        {"[product]\ntype.name = \"Nail\"\ntype = { edible = false }  # INVALID\n",
         "3:1: duplicate key `type` (first defined at 2:1)"},
        {"a = {x = 1,}", "1:12: trailing comma in an inline table"},
        {"a = {x = 1\n}", "1:11: newline in an inline table"},
        {"a = {\nx = 1}", "1:6: newline in an inline table"},
        {"a = {x = 1,\ny = 2}", "1:12: newline in an inline table"},
        {"a = {x = 1, x = 2}", "1:13: duplicate key `x` (first defined at 1:10)"},
        {"a = {x = 1 y = 2}", "1:12: expected `,` or `}` in an inline table, found `y`"},
        {"a = {x = 1", "1:11: expected `,` or `}` in an inline table, found end of input"},
        {"a = {,}", "1:6: expected a key, found `,`"},
        {"a = {x = 1 # c\n}", "1:12: expected `,` or `}` in an inline table, found `#`"},
        {"a = {}\n[a]", "2:2: cannot redefine inline table `a`"},
        {"a = {}\n[a.b]", "2:2: cannot extend inline table `a`"},
        {"a = {b = {c = 1}, b.d = 2}", "1:19: cannot add keys to inline table `b`"},
        {"a = {b.c = 1}\na.b.d = 2", "2:1: cannot add keys to inline table `a`"},
        {"a = {b.c = 1}\n[a.b]", "2:2: cannot extend inline table `a`"},
        {"a = {b = 1}\n[[a]]", "2:3: `a` is a table, not an array of tables"},
        {"a = {x = [1,}", "1:13: expected a value, found `}`"},
    };
    CHECK_VALID(valid);
    CHECK_INVALID(invalid);
}

TEST(spec_arrays_of_tables)
{
    static const struct valid_case valid[] = {
        {"[[products]]\nname = \"Hammer\"\nsku = 738594937\n\n"
         "[[products]]  # empty table within the array\n\n"
         "[[products]]\nname = \"Nail\"\nsku = 284758393\n\ncolor = \"gray\"\n",
         "{products=[{name=\"Hammer\",sku=738594937},{},"
         "{name=\"Nail\",sku=284758393,color=\"gray\"}]}"},
        {"[[fruits]]\nname = \"apple\"\n\n[fruits.physical]  # subtable\ncolor = \"red\"\n"
         "shape = \"round\"\n\n[[fruits.varieties]]  # nested array of tables\n"
         "name = \"red delicious\"\n\n[[fruits.varieties]]\nname = \"granny smith\"\n\n\n"
         "[[fruits]]\nname = \"banana\"\n\n[[fruits.varieties]]\nname = \"plantain\"\n",
         "{fruits=[{name=\"apple\",physical={color=\"red\",shape=\"round\"},"
         "varieties=[{name=\"red delicious\"},{name=\"granny smith\"}]},"
         "{name=\"banana\",varieties=[{name=\"plantain\"}]}]}"},
        {"points = [ { x = 1, y = 2, z = 3 },\n           { x = 7, y = 8, z = 9 },\n"
         "           { x = 2, y = 4, z = 8 } ]\n",
         "{points=[{x=1,y=2,z=3},{x=7,y=8,z=9},{x=2,y=4,z=8}]}"},
        {"[[ a ]]\n[[ a . b ]]\n[a.c]\nx = 1\n[[a]]\n[a.c]\nx = 2",
         "{a=[{b=[{}],c={x=1}},{c={x=2}}]}"},
        {"[a]\n[[a.b]]\n[[a.b]]", "{a={b=[{},{}]}}"},
        {"[[a]]\nb.c = 1\n[[a]]\nb.c = 2", "{a=[{b={c=1}},{b={c=2}}]}"},
    };
    static const struct invalid_case invalid[] = {
        {"[fruit.physical]  # subtable, but to which parent element?\ncolor = \"red\"\n"
         "shape = \"round\"\n\n[[fruit]]  # parser must throw an error upon discovering that "
         "\"fruit\" is\n          # an array rather than a table\nname = \"apple\"\n",
         "5:3: `fruit` is a table, not an array of tables"},
        {"fruits = []\n\n[[fruits]] # Not allowed\n",
         "3:3: cannot append to array `fruits` defined as a value"},
        {"[[fruits]]\nname = \"apple\"\n\n[[fruits.varieties]]\nname = \"red delicious\"\n\n"
         "# INVALID: This table conflicts with the previous array of tables\n"
         "[fruits.varieties]\nname = \"granny smith\"\n",
         "8:9: `fruits.varieties` is an array of tables, not a table"},
        {"[[fruits]]\n[fruits.physical]\ncolor = \"red\"\nshape = \"round\"\n\n"
         "# INVALID: This array of tables conflicts with the previous table\n"
         "[[fruits.physical]]\ncolor = \"green\"\n",
         "7:10: `fruits.physical` is a table, not an array of tables"},
        {"a = [1]\n[a.b]", "2:2: cannot extend array `a` defined as a value"},
        {"a = 1\n[[a]]", "2:3: key `a` is already defined as an integer"},
        {"[[a]\n", "1:5: expected `]]` after an array of tables header, found newline"},
        {"[[a] ]", "1:5: expected `]]` after an array of tables header, found ` `"},
        {"[ [a]]", "1:3: expected a key, found `[`"},
        {"[[]]", "1:3: expected a key, found `]`"},
        {"[[a]]\n[a]", "2:2: `a` is an array of tables, not a table"},
        {"[[a]]\nb.c = 1\n[a.b]", "3:4: table `a.b` is already defined by dotted keys at 2:1"},
        {"[[a.b]]\n[a]\nb.c = 1", "3:1: key `b` is already defined as an array, not a table"},
    };
    CHECK_VALID(valid);
    CHECK_INVALID(invalid);
}

TEST(whole_documents)
{
    static const struct valid_case valid[] = {
        {"", "{}"},
        {"\n\n   \n\t\n", "{}"},
        {"# only a comment", "{}"},
        {"\xef\xbb\xbf"
         "a = 1",
         "{a=1}"},
        {"a = 1\r\nb = 2\r\n", "{a=1,b=2}"},
        {"a = 1", "{a=1}"},
        {"# This is a TOML document\n\ntitle = \"TOML Example\"\n\n[owner]\n"
         "name = \"Tom Preston-Werner\"\ndob = 1979-05-27T07:32:00-08:00\n\n[database]\n"
         "enabled = true\nports = [ 8000, 8001, 8002 ]\ndata = [ [\"delta\", \"phi\"], [3.14] ]\n"
         "temp_targets = { cpu = 79.5, case = 72.0 }\n\n[servers]\n\n[servers.alpha]\n"
         "ip = \"10.0.0.1\"\nrole = \"frontend\"\n\n[servers.beta]\nip = \"10.0.0.2\"\n"
         "role = \"backend\"\n",
         "{title=\"TOML Example\",owner={name=\"Tom Preston-Werner\","
         "dob=odt:1979-05-27T07:32:00-08:00},database={enabled=true,ports=[8000,8001,8002],"
         "data=[[\"delta\",\"phi\"],[f:3.14]],temp_targets={cpu=f:79.5,case=f:72}},"
         "servers={alpha={ip=\"10.0.0.1\",role=\"frontend\"},beta={ip=\"10.0.0.2\","
         "role=\"backend\"}}}"},
    };
    static const struct invalid_case invalid[] = {
        {"a = 1\rb = 2", "1:6: carriage return not followed by a line feed"},
        {"a = 1\n\x01", "2:1: expected a key, found U+0001"},
        {"\xef\xbb\xbf"
         "a = ",
         "1:5: expected a value, found end of input"},
        {"a = 1\n  [b\n", "2:5: expected `]` after a table header, found newline"},
        {"[a]\nb = 1\nc = \"\xe2\x82\xac\" x", "3:9: expected a newline after a key/value pair, "
                                               "found `x`"},
        {"é = 1", "1:1: expected a key, found non-ASCII text"},
    };
    CHECK_VALID(valid);
    CHECK_INVALID(invalid);
}

/* ---- limits ---- */

static char *repeat(const char *prefix, const char *unit, int n, const char *suffix_unit)
{
    size_t a = strlen(unit), b = strlen(suffix_unit);
    char *s = xmalloc(strlen(prefix) + (size_t)n * (a + b) + 16); /* room to append */
    char *p = stpcpy(s, prefix);
    for (int i = 0; i < n; i++)
        p = stpcpy(p, unit);
    for (int i = 0; i < n; i++)
        p = stpcpy(p, suffix_unit);
    return s;
}

TEST(nesting_limit_allows_128_levels)
{
    cleanup_kerr struct kerr *e = NULL;
    cleanup_free char *arrays = repeat("a = ", "[", TOML_MAX_DEPTH, "]");
    cleanup_toml struct toml_value *doc = parse(arrays, &e);
    CHECK(doc != NULL);
    /* a = {b={b=...{b=1}...}}: the innermost table sits at depth 128. */
    cleanup_free char *tables = repeat("a = ", "{b=", TOML_MAX_DEPTH, "}");
    char *innermost = strstr(tables, "{b=}");
    CHECK(innermost != NULL);
    memmove(innermost + 4, innermost + 3, strlen(innermost + 3) + 1);
    innermost[3] = '1';
    cleanup_toml struct toml_value *doc2 = parse(tables, &e);
    CHECK(doc2 != NULL);
}

TEST(nesting_limit_rejects_deeper_arrays)
{
    cleanup_kerr struct kerr *e = NULL;
    cleanup_free char *arrays = repeat("a = ", "[", TOML_MAX_DEPTH + 1, "]");
    CHECK(parse(arrays, &e) == NULL);
    CHECK_STR(e->msg, "t.toml:1:133: arrays and tables are nested too deeply (limit 128)");
}

TEST(nesting_limit_rejects_hostile_input_without_recursing)
{
    cleanup_kerr struct kerr *e = NULL;
    cleanup_free char *deep = repeat("a = ", "[{x=", 100000, "");
    CHECK(parse(deep, &e) == NULL);
    CHECK_CONTAINS(e->msg, "nested too deeply");
}

TEST(nesting_limit_counts_headers_and_dotted_keys)
{
    cleanup_kerr struct kerr *e = NULL;
    cleanup_free char *header = repeat("[x", ".x", TOML_MAX_DEPTH, "");
    strcat(header, "]");
    CHECK(parse(header, &e) == NULL);
    CHECK_CONTAINS(e->msg, "nested too deeply");
    kerr_clear(&e);
    cleanup_free char *prefix = repeat("[x", ".x", 99, "");
    cleanup_free char *dotted = repeat("y", ".y", 39, "");
    cleanup_free char *both = xasprintf("%s]\n%s = 1", prefix, dotted);
    CHECK(parse(both, &e) == NULL);
    CHECK_CONTAINS(e->msg, "nested too deeply");
    kerr_clear(&e);
    cleanup_free char *ok = repeat("[x", ".x", TOML_MAX_DEPTH - 1, "");
    strcat(ok, "]\ny = 1");
    cleanup_toml struct toml_value *doc = parse(ok, &e);
    CHECK(doc != NULL);
}

/* ---- error messages ---- */

TEST(error_names_file_line_and_column)
{
    cleanup_kerr struct kerr *e = NULL;
    const char *text = "[server]\nport = 80\n\nport = 81\n";
    CHECK(toml_parse(text, strlen(text), "/etc/kata/configuration.toml", &e) == NULL);
    CHECK_STR(e->msg,
              "/etc/kata/configuration.toml:4:1: duplicate key `port` (first defined at 2:8)");
    CHECK_INT(e->status, 0);
}

TEST(error_without_filename_says_string)
{
    cleanup_kerr struct kerr *e = NULL;
    CHECK(toml_parse("x = ?", 5, NULL, &e) == NULL);
    CHECK_STR(e->msg, "<string>:1:5: expected a value, found `?`");
}

TEST(error_column_counts_characters_not_bytes)
{
    cleanup_kerr struct kerr *e = NULL;
    CHECK(parse("\"ключ\" = 01", &e) == NULL);
    CHECK_STR(e->msg, "t.toml:1:10: leading zeros are not allowed in `01`");
}

TEST(error_with_null_err_is_harmless)
{
    CHECK(toml_parse("a = ", 4, "x", NULL) == NULL);
}

TEST(error_reports_line_inside_multi_line_values)
{
    cleanup_kerr struct kerr *e = NULL;
    CHECK(parse("a = \"\"\"\none\ntwo \\q\"\"\"", &e) == NULL);
    CHECK_STR(e->msg, "t.toml:3:5: invalid escape sequence `\\q`");
    kerr_clear(&e);
    CHECK(parse("a = [\n  1,\n  2,\n  01,\n]", &e) == NULL);
    CHECK_STR(e->msg, "t.toml:4:3: leading zeros are not allowed in `01`");
}

TEST(error_shows_quoted_keys_quoted)
{
    cleanup_kerr struct kerr *e = NULL;
    CHECK(parse("\"a b\".c = 1\n\"a b\".c = 2", &e) == NULL);
    CHECK_STR(e->msg, "t.toml:2:7: duplicate key `\"a b\".c` (first defined at 1:11)");
}

TEST(error_truncates_long_values)
{
    cleanup_kerr struct kerr *e = NULL;
    CHECK(parse("a = abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz", &e) == NULL);
    CHECK_STR(e->msg, "t.toml:1:5: invalid value `abcdefghijklmnopqrstuvwxyzabcdefghijklmn...`");
}

TEST(nul_byte_outside_strings_is_rejected)
{
    cleanup_kerr struct kerr *e = NULL;
    CHECK(toml_parse("a = 1\n\0", 7, "t.toml", &e) == NULL);
    CHECK_STR(e->msg, "t.toml:2:1: expected a key, found U+0000");
    kerr_clear(&e);
    CHECK(toml_parse("a = \"x\0\"", 8, "t.toml", &e) == NULL);
    CHECK_STR(e->msg, "t.toml:1:7: control character U+0000 must be escaped in a string");
}

TEST(input_need_not_be_nul_terminated)
{
    cleanup_kerr struct kerr *e = NULL;
    const char text[] = {'a', ' ', '=', ' ', '1', '2', '3'};
    cleanup_toml struct toml_value *doc = toml_parse(text, 5, "t.toml", &e);
    CHECK(doc != NULL);
    CHECK_INT(toml_integer(toml_table_get(doc, "a")), 1);
}

/* ---- positions ---- */

TEST(values_remember_line_and_column)
{
    cleanup_kerr struct kerr *e = NULL;
    cleanup_toml struct toml_value *doc =
        parse("# c\n[hypervisor.qemu]\npath = \"/usr/bin/qemu\"\n  \"ü\" = [1,\n    2]\n", &e);
    CHECK(doc != NULL);
    CHECK_INT(toml_line(doc), 1);
    const struct toml_value *qemu = toml_get_path(doc, "hypervisor.qemu");
    CHECK(qemu != NULL);
    CHECK_INT(toml_line(qemu), 2);
    CHECK_INT(toml_column(qemu), 1);
    const struct toml_value *hv = toml_table_get(doc, "hypervisor");
    CHECK_INT(toml_line(hv), 2);
    CHECK_INT(toml_column(hv), 2);
    const struct toml_value *path = toml_table_get(qemu, "path");
    CHECK_INT(toml_line(path), 3);
    CHECK_INT(toml_column(path), 8);
    const struct toml_value *arr = toml_table_get(qemu, "ü");
    CHECK_INT(toml_line(arr), 4);
    CHECK_INT(toml_column(arr), 9);
    CHECK_INT(toml_line(toml_array_get(arr, 1)), 5);
    CHECK_INT(toml_column(toml_array_get(arr, 1)), 5);
    CHECK_STR(toml_filename(path), "t.toml");
}

TEST(implicit_table_takes_position_of_its_header)
{
    cleanup_kerr struct kerr *e = NULL;
    cleanup_toml struct toml_value *doc = parse("[a.b]\nx = 1\n\n[a]\ny = 2", &e);
    CHECK(doc != NULL);
    CHECK_INT(toml_line(toml_table_get(doc, "a")), 4);
    CHECK_INT(toml_line(toml_get_path(doc, "a.b")), 1);
}

TEST(array_of_tables_elements_have_their_header_position)
{
    cleanup_kerr struct kerr *e = NULL;
    cleanup_toml struct toml_value *doc = parse("[[a]]\n[[a]]\nx = 1", &e);
    CHECK(doc != NULL);
    const struct toml_value *a = toml_table_get(doc, "a");
    CHECK_INT(toml_line(toml_array_get(a, 0)), 1);
    CHECK_INT(toml_line(toml_array_get(a, 1)), 2);
}

/* ---- API ---- */

TEST(table_keeps_insertion_order)
{
    cleanup_kerr struct kerr *e = NULL;
    cleanup_toml struct toml_value *doc = parse("z = 1\na = 2\n[m]\n[b]", &e);
    CHECK(doc != NULL);
    CHECK_INT(toml_table_length(doc), 4);
    const char *want[] = {"z", "a", "m", "b"};
    for (size_t i = 0; i < 4; i++) {
        size_t n;
        CHECK_STR(toml_table_key(doc, i, &n), want[i]);
        CHECK_INT(n, 1);
    }
    CHECK_INT(toml_integer(toml_table_value(doc, 1)), 2);
    CHECK(toml_table_key(doc, 4, NULL) == NULL);
    CHECK(toml_table_value(doc, 4) == NULL);
}

TEST(lookup_by_single_key_takes_dots_literally)
{
    cleanup_kerr struct kerr *e = NULL;
    cleanup_toml struct toml_value *doc =
        parse("[annotations]\n\"io.katacontainers.config.hypervisor.path\" = \"/x\"\n", &e);
    CHECK(doc != NULL);
    const struct toml_value *ann = toml_table_get(doc, "annotations");
    const struct toml_value *v = toml_table_get(ann, "io.katacontainers.config.hypervisor.path");
    CHECK(v != NULL);
    CHECK_STR(toml_string(v, NULL), "/x");
    CHECK(toml_table_get(ann, "io") == NULL);
}

TEST(lookup_by_path_uses_key_syntax)
{
    cleanup_kerr struct kerr *e = NULL;
    cleanup_toml struct toml_value *doc =
        parse("[hypervisor.qemu]\npath = \"/q\"\n[annotations]\n\"a.b\" = 1\n'x y'.z = 2", &e);
    CHECK(doc != NULL);
    CHECK_STR(toml_string(toml_get_path(doc, "hypervisor.qemu.path"), NULL), "/q");
    CHECK_STR(toml_string(toml_get_path(doc, " hypervisor . qemu . path "), NULL), "/q");
    CHECK_STR(toml_string(toml_get_path(doc, "hypervisor.\"qemu\".'path'"), NULL), "/q");
    CHECK_INT(toml_integer(toml_get_path(doc, "annotations.\"a.b\"")), 1);
    CHECK_INT(toml_integer(toml_get_path(doc, "annotations.'x y'.z")), 2);
    CHECK(toml_get_path(doc, "annotations.a.b") == NULL);
    CHECK(toml_get_path(doc, "hypervisor.qemu.path.more") == NULL);
    CHECK(toml_get_path(doc, "hypervisor.missing") == NULL);
    CHECK(toml_get_path(doc, "hypervisor..qemu") == NULL);
    CHECK(toml_get_path(doc, "") == NULL);
    CHECK(toml_get_path(doc, "\"unterminated") == NULL);
    CHECK(toml_get_path(doc, "a b") == NULL);
}

TEST(lookup_by_path_does_not_enter_arrays)
{
    cleanup_kerr struct kerr *e = NULL;
    cleanup_toml struct toml_value *doc = parse("[[a]]\nb = 1", &e);
    CHECK(doc != NULL);
    CHECK(toml_get_path(doc, "a") != NULL);
    CHECK(toml_get_path(doc, "a.b") == NULL);
}

TEST(strings_with_nul_have_a_length)
{
    cleanup_kerr struct kerr *e = NULL;
    cleanup_toml struct toml_value *doc = parse("s = \"a\\u0000b\"\n\"k\\u0000\" = 1", &e);
    CHECK(doc != NULL);
    size_t n = 0;
    const char *s = toml_string(toml_table_get(doc, "s"), &n);
    CHECK_INT(n, 3);
    CHECK(memcmp(s, "a\0b", 4) == 0);
    CHECK(toml_table_get(doc, "k") == NULL);
    CHECK(toml_table_get_n(doc, "k\0", 2) != NULL);
    CHECK(toml_table_key(doc, 1, &n) != NULL);
    CHECK_INT(n, 2);
}

TEST(getters_return_neutral_values_for_other_types)
{
    cleanup_kerr struct kerr *e = NULL;
    cleanup_toml struct toml_value *doc = parse("s = 'x'\ni = 7\nf = 1.5\nb = true\na = [1]", &e);
    CHECK(doc != NULL);
    const struct toml_value *s = toml_table_get(doc, "s");
    const struct toml_value *i = toml_table_get(doc, "i");
    const struct toml_value *a = toml_table_get(doc, "a");
    CHECK_INT(toml_type(s), TOML_STRING);
    CHECK_INT(toml_type(i), TOML_INTEGER);
    CHECK_INT(toml_type(toml_table_get(doc, "f")), TOML_FLOAT);
    CHECK_INT(toml_type(toml_table_get(doc, "b")), TOML_BOOLEAN);
    CHECK(toml_string(i, NULL) == NULL);
    CHECK_INT(toml_integer(s), 0);
    CHECK(toml_float(i) == 0.0);
    CHECK(!toml_boolean(i));
    CHECK(toml_datetime(i) == NULL);
    CHECK_INT(toml_table_length(a), 0);
    CHECK(toml_table_get(a, "x") == NULL);
    CHECK_INT(toml_array_length(s), 0);
    CHECK(toml_array_get(s, 0) == NULL);
    CHECK(toml_array_get(a, 1) == NULL);
    CHECK(toml_float(toml_table_get(doc, "f")) == 1.5);
    CHECK(toml_boolean(toml_table_get(doc, "b")));
}

TEST(type_names)
{
    CHECK_STR(toml_type_name(TOML_TABLE), "table");
    CHECK_STR(toml_type_name(TOML_ARRAY), "array");
    CHECK_STR(toml_type_name(TOML_STRING), "string");
    CHECK_STR(toml_type_name(TOML_INTEGER), "integer");
    CHECK_STR(toml_type_name(TOML_FLOAT), "float");
    CHECK_STR(toml_type_name(TOML_BOOLEAN), "boolean");
    CHECK_STR(toml_type_name(TOML_DATETIME), "date-time");
}

TEST(many_keys_use_the_index)
{
    struct dump d = {0};
    dump_add(&d, "", 0);
    for (int i = 0; i < 2000; i++) {
        char line[64];
        snprintf(line, sizeof(line), "k%d = %d\n", i, i);
        dump_str(&d, line);
    }
    cleanup_free char *text = d.s;
    cleanup_kerr struct kerr *e = NULL;
    cleanup_toml struct toml_value *doc = parse(text, &e);
    CHECK(doc != NULL);
    CHECK_INT(toml_table_length(doc), 2000);
    for (int i = 0; i < 2000; i += 7) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", i);
        CHECK_INT(toml_integer(toml_table_get(doc, key)), i);
    }
    CHECK(toml_table_get(doc, "k2000") == NULL);
    cleanup_free char *dup = xasprintf("%sk1999 = 0\n", text);
    CHECK(parse(dup, &e) == NULL);
    CHECK_STR(e->msg, "t.toml:2001:1: duplicate key `k1999` (first defined at 2000:9)");
}

TEST(parse_file_reads_and_names_the_file)
{
    char path[] = "/tmp/kata-toml-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    const char *text = "[runtime]\nenable_debug = true\ninternetworking_model = 01\n";
    CHECK_INT(write(fd, text, strlen(text)), (long long)strlen(text));
    close(fd);
    cleanup_kerr struct kerr *e = NULL;
    CHECK(toml_parse_file(path, &e) == NULL);
    cleanup_free char *want = xasprintf("%s:3:25: leading zeros are not allowed in `01`", path);
    CHECK_STR(e->msg, want);
    kerr_clear(&e);
    fd = open(path, O_WRONLY | O_TRUNC);
    CHECK(fd >= 0);
    CHECK_INT(write(fd, text, 30), 30);
    close(fd);
    cleanup_toml struct toml_value *doc = toml_parse_file(path, &e);
    unlink(path);
    CHECK(doc != NULL);
    CHECK(toml_boolean(toml_get_path(doc, "runtime.enable_debug")));
    CHECK_STR(toml_filename(toml_get_path(doc, "runtime.enable_debug")), path);
}

TEST(parse_file_reports_missing_file)
{
    cleanup_kerr struct kerr *e = NULL;
    CHECK(toml_parse_file("/nonexistent/configuration.toml", &e) == NULL);
    CHECK_STR(e->msg, "open `/nonexistent/configuration.toml`: No such file or directory");
    CHECK_INT(e->status, ENOENT);
}

/* ---- equality ---- */

TEST(equal_compares_tables_as_unordered_maps)
{
    cleanup_kerr struct kerr *e = NULL;
    cleanup_toml struct toml_value *a = parse("x = 1\ny = [1, 'a']\n[t]\nz = 1979-05-27", &e);
    cleanup_toml struct toml_value *b = parse("t.z = 1979-05-27\ny = [1, \"a\"]\nx = 0x1", &e);
    cleanup_toml struct toml_value *c = parse("t.z = 1979-05-28\ny = [1, \"a\"]\nx = 1", &e);
    cleanup_toml struct toml_value *d = parse("t.z = 1979-05-27\ny = [1, \"a\"]\nx = 1\nw = 1", &e);
    cleanup_toml struct toml_value *f = parse("t.z = 1979-05-27\ny = ['a', 1]\nx = 1", &e);
    CHECK(a && b && c && d && f);
    CHECK(toml_equal(a, b));
    CHECK(toml_equal(b, a));
    CHECK(!toml_equal(a, c));
    CHECK(!toml_equal(a, d));
    CHECK(!toml_equal(d, a));
    CHECK(!toml_equal(a, f));
}

TEST(equal_floats_nan_and_signed_zero)
{
    cleanup_kerr struct kerr *e = NULL;
    cleanup_toml struct toml_value *a = parse("n = nan\nz = 0.0\nm = -nan\ni = 1\nf = 1.0", &e);
    CHECK(a != NULL);
    const struct toml_value *n = toml_table_get(a, "n"), *m = toml_table_get(a, "m");
    const struct toml_value *z = toml_table_get(a, "z");
    cleanup_toml struct toml_value *nan2 = toml_float_new(NAN);
    cleanup_toml struct toml_value *negzero = toml_float_new(-0.0);
    CHECK(toml_equal(n, nan2));
    CHECK(!toml_equal(n, m));
    CHECK(!toml_equal(z, negzero));
    CHECK(!toml_equal(toml_table_get(a, "i"), toml_table_get(a, "f")));
}

TEST(equal_date_times_by_value)
{
    cleanup_kerr struct kerr *e = NULL;
    cleanup_toml struct toml_value *a =
        parse("a = 1979-05-27T07:32:00Z\nb = 1979-05-27 07:32:00+00:00\nc = 1979-05-27T07:32:00\n"
              "d = 07:32:00.5\ne = 07:32:00.500",
              &e);
    CHECK(a != NULL);
    CHECK(toml_equal(toml_table_get(a, "a"), toml_table_get(a, "b")));
    CHECK(!toml_equal(toml_table_get(a, "a"), toml_table_get(a, "c")));
    CHECK(toml_equal(toml_table_get(a, "d"), toml_table_get(a, "e")));
}

/* ---- merge ---- */

TEST(merge_overrides_scalars_and_merges_tables)
{
    cleanup_kerr struct kerr *e = NULL;
    cleanup_toml struct toml_value *base =
        parse("[hypervisor.qemu]\npath = \"/usr/bin/qemu\"\nkernel_params = \"a b\"\n"
              "default_vcpus = 1\n[runtime]\nenable_debug = false\n",
              &e);
    cleanup_toml struct toml_value *dropin =
        parse("[hypervisor.qemu]\ndefault_vcpus = 4\nenable_iommu = true\n"
              "[agent.kata]\ndebug_console_enabled = true\n",
              &e);
    CHECK(base && dropin);
    CHECK_INT(toml_merge(base, dropin, &e), 0);
    cleanup_free char *got = dump(base);
    CHECK_STR(got, "{hypervisor={qemu={path=\"/usr/bin/qemu\",kernel_params=\"a b\","
                   "default_vcpus=4,enable_iommu=true}},runtime={enable_debug=false},"
                   "agent={kata={debug_console_enabled=true}}}");
}

TEST(merge_replaces_arrays_whole)
{
    cleanup_kerr struct kerr *e = NULL;
    cleanup_toml struct toml_value *base =
        parse("list = [1, 2, 3]\n[[aot]]\nx = 1\n[[aot]]\nx = 2", &e);
    cleanup_toml struct toml_value *dropin = parse("list = ['a']\n[[aot]]\ny = 1", &e);
    CHECK(base && dropin);
    CHECK_INT(toml_merge(base, dropin, &e), 0);
    cleanup_free char *got = dump(base);
    CHECK_STR(got, "{list=[\"a\"],aot=[{y=1}]}");
}

TEST(merge_lets_src_change_types)
{
    cleanup_kerr struct kerr *e = NULL;
    cleanup_toml struct toml_value *base = parse("a = 1\n[b]\nc = 1\n[d]\ne = 1", &e);
    cleanup_toml struct toml_value *dropin = parse("b = 'now a string'\n[a]\nx = 1\n[d]", &e);
    CHECK(base && dropin);
    CHECK_INT(toml_merge(base, dropin, &e), 0);
    cleanup_free char *got = dump(base);
    CHECK_STR(got, "{a={x=1},b=\"now a string\",d={e=1}}");
}

TEST(merge_copies_so_src_can_be_freed)
{
    cleanup_kerr struct kerr *e = NULL;
    cleanup_toml struct toml_value *base = parse("[a]\nx = 1", &e);
    const char *text = "[a]\ny = \"from drop-in\"\nz = 1979-05-27\n[n]\nm = [[1], {k = 2}]\n";
    struct toml_value *dropin = toml_parse(text, strlen(text), "10-dropin.toml", &e);
    CHECK(base && dropin);
    CHECK_INT(toml_merge(base, dropin, &e), 0);
    toml_free(dropin);
    const struct toml_value *y = toml_get_path(base, "a.y");
    CHECK_STR(toml_string(y, NULL), "from drop-in");
    CHECK_STR(toml_filename(y), "10-dropin.toml");
    CHECK_INT(toml_line(y), 2);
    CHECK_STR(toml_filename(toml_get_path(base, "a.x")), "t.toml");
    CHECK_STR(toml_datetime(toml_get_path(base, "a.z"))->text, "1979-05-27");
    cleanup_free char *got = dump(base);
    CHECK_STR(got, "{a={x=1,y=\"from drop-in\",z=ld:1979-05-27},n={m=[[1],{k=2}]}}");
}

TEST(merge_of_equal_documents_changes_nothing)
{
    cleanup_kerr struct kerr *e = NULL;
    const char *text = "a = 1\n[b.c]\nd = [1, {e = 2}]\n[[f]]\ng = 'h'";
    cleanup_toml struct toml_value *a = parse(text, &e);
    cleanup_toml struct toml_value *b = parse(text, &e);
    CHECK(a && b);
    CHECK_INT(toml_merge(a, b, &e), 0);
    CHECK(toml_equal(a, b));
}

TEST(merge_requires_tables)
{
    cleanup_kerr struct kerr *e = NULL;
    cleanup_toml struct toml_value *t = toml_table_new();
    cleanup_toml struct toml_value *i = toml_integer_new(1);
    CHECK_INT(toml_merge(t, i, &e), -1);
    CHECK_STR(e->msg, "merge TOML integer into table: both must be tables");
    CHECK_INT(toml_merge(i, t, NULL), -1);
}

/* ---- writer ---- */

TEST(write_builds_headers_for_tables_and_arrays_of_tables)
{
    cleanup_kerr struct kerr *e = NULL;
    cleanup_toml struct toml_value *doc =
        parse("[b.c]\nd = 1\n[[e]]\nf = 'x'\n[e.g]\nh = true\n[[e]]\n\n[a]\n"
              "top = [1, {x = 1}]\nempty = {}\n",
              &e);
    CHECK(doc != NULL);
    /* Keys before sub-tables within each table, whatever the input order. */
    cleanup_toml struct toml_value *root = parse("z = 0", &e);
    CHECK_INT(toml_merge(root, doc, &e), 0);
    cleanup_free char *text = toml_write_string(root, NULL);
    CHECK_STR(text, "z = 0\n"
                    "\n[b]\n"
                    "\n[b.c]\nd = 1\n"
                    "\n[[e]]\nf = \"x\"\n"
                    "\n[e.g]\nh = true\n"
                    "\n[[e]]\n"
                    "\n[a]\ntop = [1, { x = 1 }]\n"
                    "\n[a.empty]\n");
}

TEST(write_scalars)
{
    cleanup_toml struct toml_value *doc = toml_table_new();
    toml_table_set(doc, "i", toml_integer_new(INT64_MIN));
    toml_table_set(doc, "f1", toml_float_new(0.1));
    toml_table_set(doc, "f2", toml_float_new(100.0));
    toml_table_set(doc, "f3", toml_float_new(-0.0));
    toml_table_set(doc, "f4", toml_float_new(1e300));
    toml_table_set(doc, "f5", toml_float_new(-INFINITY));
    toml_table_set(doc, "f6", toml_float_new(NAN));
    toml_table_set(doc, "f7", toml_float_new(1.5e-7));
    toml_table_set(doc, "b", toml_boolean_new(false));
    toml_table_set(doc, "s", toml_string_new("q\"b\\\x01\x7f\t\n\r\b\f é", 14));
    cleanup_free char *text = toml_write_string(doc, NULL);
    CHECK_STR(text, "i = -9223372036854775808\nf1 = 0.1\nf2 = 100.0\nf3 = -0.0\nf4 = 1e+300\n"
                    "f5 = -inf\nf6 = nan\nf7 = 1.5e-07\nb = false\n"
                    "s = \"q\\\"b\\\\\\u0001\\u007F\\t\\n\\r\\b\\f é\"\n");
    cleanup_kerr struct kerr *e = NULL;
    cleanup_toml struct toml_value *back = parse(text, &e);
    CHECK(back != NULL);
    CHECK(toml_equal(doc, back));
}

TEST(write_quotes_keys_that_are_not_bare)
{
    cleanup_toml struct toml_value *doc = toml_table_new();
    toml_table_set(doc, "", toml_integer_new(1));
    toml_table_set(doc, "a.b", toml_integer_new(2));
    toml_table_set(doc, "ü", toml_integer_new(3));
    toml_table_set(doc, "bare-key_9", toml_integer_new(4));
    struct toml_value *sub = toml_table_new();
    toml_table_set(sub, "x y", toml_integer_new(5));
    toml_table_set(doc, "io.katacontainers", sub);
    cleanup_free char *text = toml_write_string(doc, NULL);
    CHECK_STR(text, "\"\" = 1\n\"a.b\" = 2\n\"ü\" = 3\nbare-key_9 = 4\n"
                    "\n[\"io.katacontainers\"]\n\"x y\" = 5\n");
}

TEST(write_table_set_replaces_in_place)
{
    cleanup_toml struct toml_value *doc = toml_table_new();
    toml_table_set(doc, "a", toml_integer_new(1));
    toml_table_set(doc, "b", toml_integer_new(2));
    toml_table_set(doc, "a", toml_string_new("x", 1));
    cleanup_free char *text = toml_write_string(doc, NULL);
    CHECK_STR(text, "a = \"x\"\nb = 2\n");
}

TEST(write_arrays_inline_unless_all_tables)
{
    cleanup_toml struct toml_value *doc = toml_table_new();
    struct toml_value *mixed = toml_array_new();
    toml_array_append(mixed, toml_integer_new(1));
    toml_array_append(mixed, toml_table_new());
    struct toml_value *inner = toml_array_new();
    toml_array_append(inner, toml_boolean_new(true));
    toml_array_append(mixed, inner);
    toml_table_set(doc, "mixed", mixed);
    toml_table_set(doc, "empty", toml_array_new());
    struct toml_value *tables = toml_array_new();
    toml_array_append(tables, toml_table_new());
    struct toml_value *t = toml_table_new();
    toml_table_set(t, "k", toml_string_new("v", 1));
    toml_array_append(tables, t);
    toml_table_set(doc, "tables", tables);
    cleanup_free char *text = toml_write_string(doc, NULL);
    CHECK_STR(text, "mixed = [1, {}, [true]]\nempty = []\n\n[[tables]]\n\n[[tables]]\nk = \"v\"\n");
}

TEST(write_keeps_date_time_text)
{
    cleanup_kerr struct kerr *e = NULL;
    cleanup_toml struct toml_value *doc =
        parse("a = 1979-05-27 07:32:00.123456789123z\nb = 07:32:00\nc = 1979-05-27", &e);
    CHECK(doc != NULL);
    cleanup_free char *text = toml_write_string(doc, NULL);
    CHECK_STR(text, "a = 1979-05-27 07:32:00.123456789123z\nb = 07:32:00\nc = 1979-05-27\n");
}

TEST(write_to_stream)
{
    cleanup_kerr struct kerr *e = NULL;
    cleanup_toml struct toml_value *doc = parse("[x]\ny = [1, 2]", &e);
    CHECK(doc != NULL);
    char buf[128] = {0};
    FILE *f = fmemopen(buf, sizeof(buf), "w");
    CHECK(f != NULL);
    CHECK_INT(toml_write(doc, f, &e), 0);
    fclose(f);
    CHECK_STR(buf, "[x]\ny = [1, 2]\n");
}

TEST(write_rejects_a_non_table_root)
{
    cleanup_kerr struct kerr *e = NULL;
    cleanup_toml struct toml_value *i = toml_integer_new(1);
    CHECK_INT(toml_write(i, stdout, &e), -1);
    CHECK_CONTAINS(e->msg, "the root is a integer, not a table");
    CHECK(toml_write_string(i, NULL) == NULL);
}

TEST(write_round_trips_an_awkward_document)
{
    cleanup_kerr struct kerr *e = NULL;
    const char *text = "\"\" = ''\n\"\\u0000\" = \"\\u0000\\u001f\\\\\"\n[a.\"b.c\".'d e']\n"
                       "x = [[], [{}], {y = [{z = {}}]}]\n[[a.f]]\n[[a.f.g]]\nh.i = -nan\n[[a.f]]\n"
                       "[a.f.j]\nk = 0x7fffffffffffffff\n[l]\nm = 1e-310\nn = -0.0\no = "
                       "1979-05-27T00:00:00+14:00\n";
    cleanup_toml struct toml_value *doc = parse(text, &e);
    CHECK(doc != NULL);
    cleanup_free char *out = toml_write_string(doc, NULL);
    cleanup_toml struct toml_value *back = toml_parse(out, strlen(out), "w", &e);
    if (back == NULL)
        printf("#   %s\n#   %s\n", out, e->msg);
    CHECK(back != NULL);
    CHECK(toml_equal(doc, back));
    cleanup_free char *out2 = toml_write_string(back, NULL);
    CHECK_STR(out2, out);
}
