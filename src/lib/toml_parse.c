/* TOML 1.0.0 parser.
 *
 * A single pass over the bytes, recursive only for arrays and inline tables
 * (bounded by TOML_MAX_DEPTH).  The rules on which tables may be defined or
 * extended are kept in flags on the table values themselves:
 *
 * - a table named by a [header] is DEFINED and cannot be named again;
 * - a table created or extended by dotted keys remembers the section (the
 *   part of the document after one header) where that happened: later
 *   sections may neither name it in a [header] nor extend it with dotted keys
 *   (they may still create sub-tables through it with a [header]);
 * - an inline table is INLINE from its closing brace on and can never be
 *   extended; an array written as a value is STATIC and [[header]] cannot
 *   append to it.
 */
#include "toml.h"
#include "toml_internal.h"
#include "util.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct parser {
    const char *s;
    size_t len, pos;
    unsigned line;     /* line of pos, 1-based */
    size_t line_start; /* offset of the first byte of that line */
    /* Column cache, so that value positions cost O(1) amortized. */
    size_t col_line_start, col_pos;
    unsigned col;
    const char *filename;
    struct toml_source *source;
    struct kerr **err;
    struct toml_value *root;
    struct toml_value *current; /* table that key/value pairs go into */
    unsigned section;           /* incremented at each [header] */
};

struct key_part {
    char *s;
    size_t len;
    size_t pos;
};

struct key {
    struct key_part *parts;
    size_t n, cap;
};

/* A key part may contain NUL ("\u0000"): copy by length. */
static char *key_copy(const struct key_part *part)
{
    char *s = xmalloc(part->len + 1);
    memcpy(s, part->s, part->len);
    s[part->len] = '\0';
    return s;
}

static void key_clear(struct key *k)
{
    for (size_t i = 0; i < k->n; i++)
        free(k->parts[i].s);
    free(k->parts);
    k->parts = NULL;
    k->n = k->cap = 0;
}
#define cleanup_key __attribute__((cleanup(key_clear)))

static void buf_clear(struct toml_buf *b)
{
    free(b->data);
}
#define cleanup_buf __attribute__((cleanup(buf_clear)))

/* ---- positions and errors ---- */

static bool is_continuation(unsigned char c)
{
    return (c & 0xc0) == 0x80;
}

static unsigned column_at(struct parser *p, size_t pos)
{
    if (p->col_line_start != p->line_start || pos < p->col_pos) {
        p->col_line_start = p->line_start;
        p->col_pos = p->line_start;
        p->col = 1;
    }
    for (; p->col_pos < pos; p->col_pos++)
        if (!is_continuation((unsigned char)p->s[p->col_pos]))
            p->col++;
    return p->col;
}

static void set_position(struct parser *p, struct toml_value *v, size_t pos)
{
    v->line = p->line;
    v->column = column_at(p, pos);
}

static void note_newline(struct parser *p, size_t next_line_start)
{
    p->line++;
    p->line_start = next_line_start;
}

static int fail_at(struct parser *p, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_at(struct parser *p, size_t pos, const char *fmt, ...)
{
    if (p->err == NULL)
        return -1;
    unsigned line = 1, col = 1;
    size_t i = p->len >= 3 && memcmp(p->s, "\xef\xbb\xbf", 3) == 0 ? 3 : 0; /* BOM */
    for (; i < pos && i < p->len; i++) {
        if (p->s[i] == '\n') {
            line++;
            col = 1;
        } else if (!is_continuation((unsigned char)p->s[i])) {
            col++;
        }
    }
    va_list ap;
    va_start(ap, fmt);
    cleanup_free char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    return kerr_make(p->err, 0, "%s:%u:%u: %s", p->filename, line, col, msg);
}

/* "`x`", "end of input", "newline", "U+0001": what was found at pos. */
static const char *describe(struct parser *p, size_t pos, char out[16])
{
    if (pos >= p->len)
        return "end of input";
    unsigned char c = (unsigned char)p->s[pos];
    if (c == '\n' || (c == '\r' && pos + 1 < p->len && p->s[pos + 1] == '\n'))
        return "newline";
    if (c < 0x20 || c == 0x7f)
        snprintf(out, 16, "U+%04X", c);
    else if (c >= 0x80)
        snprintf(out, 16, "non-ASCII text");
    else
        snprintf(out, 16, "`%c`", c);
    return out;
}

static int fail_expected(struct parser *p, const char *what)
{
    char tmp[16];
    return fail_at(p, p->pos, "expected %s, found %s", what, describe(p, p->pos, tmp));
}

/* A key for messages: bare if possible, else quoted with escapes. */
static char *key_display(const struct key *k, size_t n)
{
    struct toml_buf b = {0};
    toml_buf_add(&b, "", 0);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            toml_buf_addc(&b, '.');
        toml_buf_add_key(&b, k->parts[i].s, k->parts[i].len);
    }
    return b.data;
}

/* ---- characters ---- */

static int peek(const struct parser *p)
{
    return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

static int peek_at(const struct parser *p, size_t off)
{
    return p->pos + off < p->len ? (unsigned char)p->s[p->pos + off] : -1;
}

static bool at_newline(const struct parser *p)
{
    int c = peek(p);
    return c == '\n' || (c == '\r' && peek_at(p, 1) == '\n');
}

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static bool is_hex(int c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_octal(int c)
{
    return c >= '0' && c <= '7';
}

static bool is_binary(int c)
{
    return c == '0' || c == '1';
}

static bool is_bare_key_char(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) || c == '_' || c == '-';
}

static bool is_control(int c)
{
    return (c >= 0 && c < 0x20 && c != '\t') || c == 0x7f;
}

/* Length of the valid UTF-8 sequence at s (1-4), 0 if invalid: no overlong
 * forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_length(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if (avail < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (!is_continuation(s[i]))
            return 0;
    return n;
}

static void skip_ws(struct parser *p)
{
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t'))
        p->pos++;
}

/* Consume "\n" or "\r\n"; anything else is an error. */
static int consume_newline(struct parser *p)
{
    if (peek(p) == '\n') {
        p->pos++;
    } else if (peek(p) == '\r' && peek_at(p, 1) == '\n') {
        p->pos += 2;
    } else if (peek(p) == '\r') {
        return fail_at(p, p->pos, "carriage return not followed by a line feed");
    } else {
        return fail_expected(p, "a newline");
    }
    note_newline(p, p->pos);
    return 0;
}

/* A comment, if there is one, up to (not including) the end of the line. */
static int skip_comment(struct parser *p)
{
    if (peek(p) != '#')
        return 0;
    p->pos++;
    while (p->pos < p->len) {
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '\n' || (c == '\r' && peek_at(p, 1) == '\n'))
            return 0;
        if (is_control(c))
            return fail_at(p, p->pos, "control character U+%04X is not allowed in a comment", c);
        size_t n = utf8_length((const unsigned char *)p->s + p->pos, p->len - p->pos);
        if (n == 0)
            return fail_at(p, p->pos, "invalid UTF-8 in a comment");
        p->pos += n;
    }
    return 0;
}

/* Whitespace, comments and newlines, as allowed between array elements. */
static int skip_blank(struct parser *p)
{
    for (;;) {
        skip_ws(p);
        if (skip_comment(p) < 0)
            return -1;
        if (p->pos >= p->len || !(peek(p) == '\n' || peek(p) == '\r'))
            return 0;
        if (consume_newline(p) < 0)
            return -1;
    }
}

/* After an expression: whitespace, a comment, then a newline or the end. */
static int end_of_line(struct parser *p, const char *after)
{
    skip_ws(p);
    if (skip_comment(p) < 0)
        return -1;
    if (p->pos >= p->len)
        return 0;
    if (peek(p) == '\n' || peek(p) == '\r')
        return consume_newline(p);
    char tmp[16];
    return fail_at(p, p->pos, "expected a newline after %s, found %s", after,
                   describe(p, p->pos, tmp));
}

/* ---- strings ---- */

static void add_utf8(struct toml_buf *b, uint32_t cp)
{
    char out[4];
    size_t n;
    if (cp < 0x80) {
        out[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        out[0] = (char)(0xf0 | (cp >> 18));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    toml_buf_add(b, out, n);
}

/* An escape sequence at p->pos (the backslash). */
static int parse_escape(struct parser *p, struct toml_buf *b)
{
    size_t start = p->pos;
    int c = peek_at(p, 1);
    const char *simple = NULL;
    switch (c) {
    case 'b':
        simple = "\b";
        break;
    case 't':
        simple = "\t";
        break;
    case 'n':
        simple = "\n";
        break;
    case 'f':
        simple = "\f";
        break;
    case 'r':
        simple = "\r";
        break;
    case '"':
        simple = "\"";
        break;
    case '\\':
        simple = "\\";
        break;
    case 'u':
    case 'U':
        break;
    default:
        if (c < 0 || is_control(c) || c >= 0x80)
            return fail_at(p, start, "invalid escape sequence");
        return fail_at(p, start, "invalid escape sequence `\\%c`", c);
    }
    if (simple != NULL) {
        toml_buf_addc(b, simple[0]);
        p->pos += 2;
        return 0;
    }
    size_t digits = c == 'u' ? 4 : 8;
    uint32_t cp = 0;
    for (size_t i = 0; i < digits; i++) {
        int h = peek_at(p, 2 + i);
        if (!is_hex(h))
            return fail_at(p, start, "`\\%c` needs %zu hexadecimal digits", c, digits);
        cp = cp * 16 + (uint32_t)(is_digit(h) ? h - '0' : (h | 0x20) - 'a' + 10);
    }
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return fail_at(p, start, "escape `%.*s` is not a Unicode scalar value", (int)(2 + digits),
                       p->s + start);
    add_utf8(b, cp);
    p->pos += 2 + digits;
    return 0;
}

/* One character of string content that needs no processing: checks controls
 * and UTF-8, copies it. */
static int string_char(struct parser *p, struct toml_buf *b)
{
    unsigned char c = (unsigned char)p->s[p->pos];
    if (is_control(c))
        return fail_at(p, p->pos, "control character U+%04X must be escaped in a string", c);
    size_t n = utf8_length((const unsigned char *)p->s + p->pos, p->len - p->pos);
    if (n == 0)
        return fail_at(p, p->pos, "invalid UTF-8 in a string");
    toml_buf_add(b, p->s + p->pos, n);
    p->pos += n;
    return 0;
}

/* "..." or '...' at p->pos. */
static int parse_single_line_string(struct parser *p, struct toml_buf *b)
{
    size_t start = p->pos;
    char quote = p->s[p->pos++];
    toml_buf_add(b, "", 0);
    for (;;) {
        if (p->pos >= p->len)
            return fail_at(p, start, "unterminated string");
        char c = p->s[p->pos];
        if (c == quote) {
            p->pos++;
            return 0;
        }
        if (c == '\n' || c == '\r')
            return fail_at(p, p->pos, "newline in a single-line string");
        if (c == '\\' && quote == '"') {
            if (parse_escape(p, b) < 0)
                return -1;
        } else if (string_char(p, b) < 0) {
            return -1;
        }
    }
}

/* """...""" or '''...''' at p->pos. */
static int parse_multi_line_string(struct parser *p, struct toml_buf *b)
{
    size_t start = p->pos;
    char quote = p->s[p->pos];
    p->pos += 3;
    toml_buf_add(b, "", 0);
    /* A newline right after the opening delimiter is trimmed. */
    if (at_newline(p) && consume_newline(p) < 0)
        return -1;
    for (;;) {
        if (p->pos >= p->len)
            return fail_at(p, start, "unterminated multi-line string");
        char c = p->s[p->pos];
        if (c == quote) {
            size_t run = 0;
            while (p->pos + run < p->len && p->s[p->pos + run] == quote)
                run++;
            if (run < 3) {
                toml_buf_add(b, p->s + p->pos, run);
                p->pos += run;
                continue;
            }
            /* Up to two quotes may precede the closing delimiter. */
            if (run > 5)
                return fail_at(p, p->pos + 5, "too many quotes at the end of a multi-line string");
            toml_buf_add(b, p->s + p->pos, run - 3);
            p->pos += run;
            return 0;
        }
        if (c == '\n' || c == '\r') {
            if (consume_newline(p) < 0)
                return -1;
            toml_buf_addc(b, '\n');
            continue;
        }
        if (c != '\\' || quote == '\'') {
            if (string_char(p, b) < 0)
                return -1;
            continue;
        }
        /* A backslash at the end of a line eats the newline and all
         * whitespace (newlines included) up to the next character. */
        size_t after = p->pos + 1;
        while (after < p->len && (p->s[after] == ' ' || p->s[after] == '\t'))
            after++;
        if (after >= p->len)
            return fail_at(p, start, "unterminated multi-line string");
        if (p->s[after] == '\n' || p->s[after] == '\r') {
            p->pos = after;
            for (;;) {
                skip_ws(p);
                if (!(peek(p) == '\n' || peek(p) == '\r'))
                    break;
                if (consume_newline(p) < 0)
                    return -1;
            }
            continue;
        }
        if (parse_escape(p, b) < 0)
            return -1;
    }
}

/* ---- keys ---- */

static int parse_simple_key(struct parser *p, struct key *k)
{
    struct key_part part = {.pos = p->pos};
    int c = peek(p);
    if (c == '"' || c == '\'') {
        if (peek_at(p, 1) == c && peek_at(p, 2) == c)
            return fail_at(p, p->pos, "a multi-line string cannot be a key");
        struct toml_buf b = {0};
        if (parse_single_line_string(p, &b) < 0) {
            free(b.data);
            return -1;
        }
        part.s = b.data;
        part.len = b.len;
    } else {
        size_t start = p->pos;
        while (p->pos < p->len && is_bare_key_char(p->s[p->pos]))
            p->pos++;
        if (p->pos == start)
            return fail_expected(p, "a key");
        part.s = xstrndup(p->s + start, p->pos - start);
        part.len = p->pos - start;
    }
    if (k->n == k->cap) {
        k->cap = k->cap ? k->cap * 2 : 4;
        k->parts = xrealloc(k->parts, k->cap * sizeof(*k->parts));
    }
    k->parts[k->n++] = part;
    return 0;
}

/* simple-key *( ws "." ws simple-key ) */
static int parse_key(struct parser *p, struct key *k)
{
    if (parse_simple_key(p, k) < 0)
        return -1;
    for (;;) {
        size_t save = p->pos;
        skip_ws(p);
        if (peek(p) != '.') {
            p->pos = save;
            return 0;
        }
        p->pos++;
        skip_ws(p);
        if (parse_simple_key(p, k) < 0)
            return -1;
    }
}

/* ---- numbers and date-times ---- */

/* Digits with single underscores between them, starting at *i.  Returns the
 * number of digits, or -1 for a misplaced underscore. */
static int digit_run(const char *s, size_t n, size_t *i, bool (*ok)(int))
{
    int count = 0;
    if (*i >= n || !ok((unsigned char)s[*i]))
        return 0;
    while (*i < n) {
        unsigned char c = (unsigned char)s[*i];
        if (ok(c)) {
            count++;
            (*i)++;
        } else if (c == '_') {
            if (*i + 1 >= n || !ok((unsigned char)s[*i + 1]))
                return -1;
            (*i)++;
        } else {
            break;
        }
    }
    return count;
}

static int digit_value(char c)
{
    return is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10;
}

static int parse_prefixed_integer(struct parser *p, size_t start, const char *s, size_t n,
                                  struct toml_value *v)
{
    static const struct {
        char letter;
        unsigned base;
        bool (*ok)(int);
        const char *name;
    } kinds[] = {
        {'x', 16, is_hex, "hexadecimal"},
        {'o', 8, is_octal, "octal"},
        {'b', 2, is_binary, "binary"},
    };
    size_t k = 0;
    while (kinds[k].letter != s[1])
        k++;
    size_t i = 2;
    int digits = digit_run(s, n, &i, kinds[k].ok);
    if (digits <= 0 || i != n)
        return fail_at(p, start, "invalid %s integer `%.*s`", kinds[k].name, (int)n, s);
    uint64_t value = 0;
    for (size_t j = 2; j < n; j++) {
        if (s[j] == '_')
            continue;
        if (value > ((uint64_t)INT64_MAX - (unsigned)digit_value(s[j])) / kinds[k].base)
            return fail_at(p, start, "integer `%.*s` does not fit in 64 bits", (int)n, s);
        value = value * kinds[k].base + (unsigned)digit_value(s[j]);
    }
    v->type = TOML_INTEGER;
    v->integer = (int64_t)value;
    return 0;
}

static int parse_number(struct parser *p, size_t start, const char *s, size_t n,
                        struct toml_value *v)
{
    size_t i = 0;
    bool negative = false;
    if (s[0] == '+' || s[0] == '-') {
        negative = s[0] == '-';
        i = 1;
    }
    if (n - i == 3 && (memcmp(s + i, "inf", 3) == 0 || memcmp(s + i, "nan", 3) == 0)) {
        v->type = TOML_FLOAT;
        v->number = s[i] == 'i' ? INFINITY : NAN;
        v->number = copysign(v->number, negative ? -1.0 : 1.0);
        return 0;
    }
    if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o' || s[1] == 'b'))
        return parse_prefixed_integer(p, start, s, n, v);
    if (n - i >= 2 && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'o' || s[i + 1] == 'b'))
        return fail_at(p, start, "a hexadecimal, octal or binary integer cannot have a sign");

    size_t int_start = i;
    int digits = digit_run(s, n, &i, is_digit);
    if (digits < 0)
        return fail_at(p, start, "misplaced underscore in number `%.*s`", (int)n, s);
    if (digits == 0)
        return fail_at(p, start, "invalid number `%.*s`", (int)n, s);
    if (s[int_start] == '0' && digits > 1)
        return fail_at(p, start, "leading zeros are not allowed in `%.*s`", (int)n, s);
    bool is_float = false;
    if (i < n && s[i] == '.') {
        i++;
        digits = digit_run(s, n, &i, is_digit);
        if (digits <= 0)
            return fail_at(p, start, "expected digits after the decimal point in `%.*s`", (int)n,
                           s);
        is_float = true;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        digits = digit_run(s, n, &i, is_digit);
        if (digits <= 0)
            return fail_at(p, start, "expected digits in the exponent of `%.*s`", (int)n, s);
        is_float = true;
    }
    if (i != n)
        return fail_at(p, start, "invalid number `%.*s`", (int)n, s);

    /* Without the underscores, for strtod() and the integer loop. */
    cleanup_free char *clean = xmalloc(n + 1);
    size_t len = 0;
    for (size_t j = 0; j < n; j++)
        if (s[j] != '_')
            clean[len++] = s[j];
    clean[len] = '\0';
    if (is_float) {
        double d = strtod(clean, NULL);
        if (isinf(d))
            return fail_at(p, start, "float `%.*s` is out of range", (int)n, s);
        v->type = TOML_FLOAT;
        v->number = d;
        return 0;
    }
    uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t value = 0;
    for (size_t j = int_start; j < len; j++) {
        unsigned d = (unsigned)(clean[j] - '0');
        if (value > (limit - d) / 10)
            return fail_at(p, start, "integer `%.*s` does not fit in 64 bits", (int)n, s);
        value = value * 10 + d;
    }
    v->type = TOML_INTEGER;
    v->integer = negative && value > 0 ? -(int64_t)(value - 1) - 1 : (int64_t)value;
    return 0;
}

static bool two_digits(const char *s, int *out)
{
    if (!is_digit(s[0]) || !is_digit(s[1]))
        return false;
    *out = (s[0] - '0') * 10 + (s[1] - '0');
    return true;
}

static int days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

/* HH:MM:SS[.fraction] at s; returns the characters used, 0 if malformed. */
static size_t parse_time(const char *s, size_t n, struct toml_datetime *dt)
{
    if (n < 8 || !two_digits(s, &dt->hour) || s[2] != ':' || !two_digits(s + 3, &dt->minute) ||
        s[5] != ':' || !two_digits(s + 6, &dt->second))
        return 0;
    size_t i = 8;
    if (i < n && s[i] == '.') {
        i++;
        size_t first = i;
        int scale = 100000000;
        for (; i < n && is_digit(s[i]); i++) {
            dt->nanosecond += (s[i] - '0') * scale;
            scale /= 10;
        }
        if (i == first)
            return 0;
    }
    return i;
}

static int parse_datetime(struct parser *p, size_t start, const char *s, size_t n,
                          struct toml_value *v)
{
    struct toml_datetime *dt = &v->datetime;
    *dt = (struct toml_datetime){0};
    size_t i = 0;
    if (n >= 3 && s[2] == ':') {
        dt->kind = TOML_LOCAL_TIME;
    } else {
        int century, year;
        if (n < 10 || !two_digits(s, &century) || !two_digits(s + 2, &year) || s[4] != '-' ||
            !two_digits(s + 5, &dt->month) || s[7] != '-' || !two_digits(s + 8, &dt->day))
            return fail_at(p, start, "invalid date `%.*s`", (int)n, s);
        dt->year = century * 100 + year;
        if (dt->month < 1 || dt->month > 12)
            return fail_at(p, start, "month out of range in `%.*s`", (int)n, s);
        if (dt->day < 1 || dt->day > days_in_month(dt->year, dt->month))
            return fail_at(p, start, "day out of range in `%.*s`", (int)n, s);
        dt->kind = TOML_LOCAL_DATE;
        i = 10;
        if (i < n) {
            if (s[i] != 'T' && s[i] != 't' && s[i] != ' ')
                return fail_at(p, start, "invalid date-time `%.*s`", (int)n, s);
            i++;
            dt->kind = TOML_LOCAL_DATETIME;
        }
    }
    if (dt->kind != TOML_LOCAL_DATE) {
        size_t used = parse_time(s + i, n - i, dt);
        if (used == 0)
            return fail_at(p, start, "invalid time in `%.*s`", (int)n, s);
        if (dt->hour > 23 || dt->minute > 59 || dt->second > 60)
            return fail_at(p, start, "time out of range in `%.*s`", (int)n, s);
        i += used;
    }
    if (dt->kind == TOML_LOCAL_DATETIME && i < n) {
        int hours, minutes;
        if (n - i == 1 && (s[i] == 'Z' || s[i] == 'z')) {
            i++;
        } else if (n - i == 6 && (s[i] == '+' || s[i] == '-') && two_digits(s + i + 1, &hours) &&
                   s[i + 3] == ':' && two_digits(s + i + 4, &minutes)) {
            if (hours > 23 || minutes > 59)
                return fail_at(p, start, "time offset out of range in `%.*s`", (int)n, s);
            dt->offset_minutes = (hours * 60 + minutes) * (s[i] == '-' ? -1 : 1);
            i += 6;
        } else {
            return fail_at(p, start, "invalid time offset in `%.*s`", (int)n, s);
        }
        dt->kind = TOML_OFFSET_DATETIME;
    }
    if (i != n)
        return fail_at(p, start, "invalid date-time `%.*s`", (int)n, s);
    v->type = TOML_DATETIME;
    dt->text = xstrndup(s, n);
    return 0;
}

/* ---- values ---- */

static int parse_value(struct parser *p, unsigned depth, struct toml_value **out);
static int parse_keyval(struct parser *p, struct toml_value *table);

static bool is_token_char(int c)
{
    return is_bare_key_char(c) || c == '+' || c == '.' || c == ':';
}

/* Booleans, numbers and date-times: a run of token characters. */
static int parse_bare_value(struct parser *p, struct toml_value *v)
{
    size_t start = p->pos;
    while (p->pos < p->len && is_token_char((unsigned char)p->s[p->pos]))
        p->pos++;
    /* "1979-05-27 07:32:00": a space may separate a date from a time. */
    if (p->pos - start == 10 && p->s[start + 4] == '-' && peek(p) == ' ' &&
        is_digit(peek_at(p, 1)) && is_digit(peek_at(p, 2)) && peek_at(p, 3) == ':') {
        p->pos++;
        while (p->pos < p->len && is_token_char((unsigned char)p->s[p->pos]))
            p->pos++;
    }
    const char *s = p->s + start;
    size_t n = p->pos - start;
    if (n == 0) {
        p->pos = start;
        return fail_expected(p, "a value");
    }
    if (n == 4 && memcmp(s, "true", 4) == 0) {
        v->type = TOML_BOOLEAN;
        v->boolean = true;
        return 0;
    }
    if (n == 5 && memcmp(s, "false", 5) == 0) {
        v->type = TOML_BOOLEAN;
        v->boolean = false;
        return 0;
    }
    if (n >= 5 && is_digit(s[0]) && is_digit(s[1]) && is_digit(s[2]) && is_digit(s[3]) &&
        s[4] == '-')
        return parse_datetime(p, start, s, n, v);
    if (n >= 3 && is_digit(s[0]) && is_digit(s[1]) && s[2] == ':')
        return parse_datetime(p, start, s, n, v);
    if (is_digit(s[0]) || s[0] == '+' || s[0] == '-' || (n == 3 && memcmp(s, "inf", 3) == 0) ||
        (n == 3 && memcmp(s, "nan", 3) == 0))
        return parse_number(p, start, s, n, v);
    int shown = n > 40 ? 40 : (int)n;
    return fail_at(p, start, "invalid value `%.*s%s`", shown, s, n > 40 ? "..." : "");
}

static int check_depth(struct parser *p, unsigned depth, size_t pos)
{
    if (depth > TOML_MAX_DEPTH)
        return fail_at(p, pos, "arrays and tables are nested too deeply (limit %d)",
                       TOML_MAX_DEPTH);
    return 0;
}

static int parse_array(struct parser *p, struct toml_value *a)
{
    a->flags |= TOML_FLAG_STATIC;
    p->pos++; /* [ */
    for (;;) {
        if (skip_blank(p) < 0)
            return -1;
        if (peek(p) == ']') {
            p->pos++;
            return 0;
        }
        struct toml_value *item = NULL;
        if (parse_value(p, a->depth + 1u, &item) < 0)
            return -1;
        toml_array_push(a, item);
        if (skip_blank(p) < 0)
            return -1;
        if (peek(p) == ',') {
            p->pos++;
        } else if (peek(p) == ']') {
            p->pos++;
            return 0;
        } else {
            return fail_expected(p, "`,` or `]` in an array");
        }
    }
}

/* Mark an inline table and the tables its dotted keys created as frozen. */
static void freeze(struct toml_value *t)
{
    t->flags |= TOML_FLAG_INLINE;
    for (size_t i = 0; i < t->table.len; i++)
        if (t->table.entries[i].value->type == TOML_TABLE)
            freeze(t->table.entries[i].value);
}

static int parse_inline_table(struct parser *p, struct toml_value *t)
{
    p->pos++; /* { */
    skip_ws(p);
    if (peek(p) == '}') {
        p->pos++;
        freeze(t);
        return 0;
    }
    for (;;) {
        if (at_newline(p) || peek(p) == '\r')
            return fail_at(p, p->pos, "newline in an inline table");
        if (parse_keyval(p, t) < 0)
            return -1;
        skip_ws(p);
        if (peek(p) == '}') {
            p->pos++;
            freeze(t);
            return 0;
        }
        if (peek(p) != ',') {
            if (at_newline(p) || peek(p) == '\r')
                return fail_at(p, p->pos, "newline in an inline table");
            return fail_expected(p, "`,` or `}` in an inline table");
        }
        p->pos++;
        skip_ws(p);
        if (peek(p) == '}')
            return fail_at(p, p->pos, "trailing comma in an inline table");
    }
}

/* The value at p->pos; depth is where it will sit (its table's depth + 1). */
static int parse_value(struct parser *p, unsigned depth, struct toml_value **out)
{
    size_t start = p->pos;
    int c = peek(p);
    if (c < 0 || c == '\n' || c == '\r' || c == '#' || c == ',' || c == ']' || c == '}')
        return fail_expected(p, "a value");
    struct toml_value *v = toml_value_alloc(TOML_BOOLEAN, p->source);
    set_position(p, v, start);
    v->depth = (uint16_t)(depth > UINT16_MAX ? UINT16_MAX : depth);
    int r;
    if (c == '"' || c == '\'') {
        cleanup_buf struct toml_buf b = {0};
        if (peek_at(p, 1) == c && peek_at(p, 2) == c)
            r = parse_multi_line_string(p, &b);
        else
            r = parse_single_line_string(p, &b);
        if (r == 0) {
            v->type = TOML_STRING;
            v->string.ptr = steal_pointer(&b.data);
            v->string.len = b.len;
        }
    } else if (c == '[' || c == '{') {
        v->type = c == '[' ? TOML_ARRAY : TOML_TABLE;
        r = check_depth(p, depth, start);
        if (r == 0)
            r = c == '[' ? parse_array(p, v) : parse_inline_table(p, v);
    } else {
        r = parse_bare_value(p, v);
    }
    if (r < 0) {
        toml_free(v);
        return -1;
    }
    *out = v;
    return 0;
}

/* ---- tables ---- */

static struct toml_value *new_table(struct parser *p, struct toml_value *parent,
                                    const struct key_part *part)
{
    if (check_depth(p, parent->depth + 1u, part->pos) < 0)
        return NULL;
    struct toml_value *t = toml_value_alloc(TOML_TABLE, p->source);
    set_position(p, t, part->pos);
    t->depth = (uint16_t)(parent->depth + 1);
    toml_table_insert(parent, key_copy(part), part->len, t);
    return t;
}

/* Defined by a header, or by dotted keys in an earlier section. */
static bool is_closed(const struct parser *p, const struct toml_value *t)
{
    return (t->flags & TOML_FLAG_DEFINED) ||
           (t->dotted_section != 0 && t->dotted_section != p->section);
}

static const char *type_with_article(enum toml_type type)
{
    return type == TOML_ARRAY || type == TOML_INTEGER ? "an" : "a";
}

/* Fail at the n-th part of key k; the first %s of fmt is the key up to it. */
#define fail_key(p, k, n, fmt, ...)                                                                \
    ({                                                                                             \
        cleanup_free char *_name = key_display((k), (n));                                          \
        fail_at((p), (k)->parts[(n)-1].pos, fmt, _name, ##__VA_ARGS__);                            \
    })

static int fail_not_table(struct parser *p, const struct key *k, size_t n,
                          const struct toml_value *v)
{
    return fail_key(p, k, n, "key `%s` is already defined as %s %s, not a table",
                    type_with_article(v->type), toml_type_name(v->type));
}

/* Follow the i-th part of a dotted key in a key/value pair. */
static struct toml_value *dotted_descend(struct parser *p, struct toml_value *t,
                                         const struct key *k, size_t i)
{
    const struct key_part *part = &k->parts[i];
    struct toml_value *v = toml_table_get_n(t, part->s, part->len);
    if (v == NULL) {
        v = new_table(p, t, part);
        if (v != NULL)
            v->dotted_section = p->section;
        return v;
    }
    if (v->type != TOML_TABLE) {
        fail_not_table(p, k, i + 1, v);
        return NULL;
    }
    if (v->flags & TOML_FLAG_INLINE) {
        fail_key(p, k, i + 1, "cannot add keys to inline table `%s`");
        return NULL;
    }
    if (is_closed(p, v)) {
        fail_key(p, k, i + 1,
                 "cannot add keys to table `%s` with dotted keys: it is defined at %u:%u", v->line,
                 v->column);
        return NULL;
    }
    v->dotted_section = p->section;
    return v;
}

static int parse_keyval(struct parser *p, struct toml_value *table)
{
    cleanup_key struct key k = {0};
    if (parse_key(p, &k) < 0)
        return -1;
    skip_ws(p);
    if (peek(p) != '=')
        return fail_expected(p, "`=` after a key");
    p->pos++;
    skip_ws(p);
    struct toml_value *t = table;
    for (size_t i = 0; i + 1 < k.n; i++) {
        t = dotted_descend(p, t, &k, i);
        if (t == NULL)
            return -1;
    }
    const struct key_part *last = &k.parts[k.n - 1];
    const struct toml_value *old = toml_table_get_n(t, last->s, last->len);
    if (old != NULL)
        return fail_key(p, &k, k.n, "duplicate key `%s` (first defined at %u:%u)", old->line,
                        old->column);
    struct toml_value *v = NULL;
    if (parse_value(p, t->depth + 1u, &v) < 0)
        return -1;
    toml_table_insert(t, key_copy(last), last->len, v);
    return 0;
}

/* Follow the i-th part of a [header] or [[header]]: missing tables are
 * created, arrays of tables lead to their last element. */
static struct toml_value *header_descend(struct parser *p, struct toml_value *t,
                                         const struct key *k, size_t i)
{
    const struct key_part *part = &k->parts[i];
    struct toml_value *v = toml_table_get_n(t, part->s, part->len);
    if (v == NULL)
        return new_table(p, t, part);
    if (v->type == TOML_TABLE && !(v->flags & TOML_FLAG_INLINE))
        return v;
    if (v->type == TOML_ARRAY && !(v->flags & TOML_FLAG_STATIC))
        return v->array.items[v->array.len - 1];
    if (v->type == TOML_TABLE)
        fail_key(p, k, i + 1, "cannot extend inline table `%s`");
    else if (v->type == TOML_ARRAY)
        fail_key(p, k, i + 1, "cannot extend array `%s` defined as a value");
    else
        fail_not_table(p, k, i + 1, v);
    return NULL;
}

/* The last part of a [header]. */
static int define_table(struct parser *p, struct toml_value *parent, const struct key *k,
                        size_t header_pos)
{
    const struct key_part *part = &k->parts[k->n - 1];
    struct toml_value *v = toml_table_get_n(parent, part->s, part->len);
    if (v == NULL) {
        v = new_table(p, parent, part);
        if (v == NULL)
            return -1;
    } else if (v->type == TOML_TABLE && (v->flags & TOML_FLAG_INLINE)) {
        return fail_key(p, k, k->n, "cannot redefine inline table `%s`");
    } else if (v->type == TOML_TABLE && (v->flags & TOML_FLAG_DEFINED)) {
        return fail_key(p, k, k->n, "table `%s` is defined twice (first at %u:%u)", v->line,
                        v->column);
    } else if (v->type == TOML_TABLE && is_closed(p, v)) {
        return fail_key(p, k, k->n, "table `%s` is already defined by dotted keys at %u:%u",
                        v->line, v->column);
    } else if (v->type == TOML_ARRAY && !(v->flags & TOML_FLAG_STATIC)) {
        return fail_key(p, k, k->n, "`%s` is an array of tables, not a table");
    } else if (v->type != TOML_TABLE) {
        return fail_not_table(p, k, k->n, v);
    }
    v->flags |= TOML_FLAG_DEFINED;
    set_position(p, v, header_pos);
    p->current = v;
    return 0;
}

/* The last part of a [[header]]. */
static int append_table(struct parser *p, struct toml_value *parent, const struct key *k,
                        size_t header_pos)
{
    const struct key_part *part = &k->parts[k->n - 1];
    struct toml_value *a = toml_table_get_n(parent, part->s, part->len);
    if (a == NULL) {
        if (check_depth(p, parent->depth + 2u, part->pos) < 0)
            return -1;
        a = toml_value_alloc(TOML_ARRAY, p->source);
        set_position(p, a, header_pos);
        a->depth = (uint16_t)(parent->depth + 1);
        toml_table_insert(parent, key_copy(part), part->len, a);
    } else if (a->type == TOML_ARRAY && (a->flags & TOML_FLAG_STATIC)) {
        return fail_key(p, k, k->n, "cannot append to array `%s` defined as a value");
    } else if (a->type == TOML_TABLE) {
        return fail_key(p, k, k->n, "`%s` is a table, not an array of tables");
    } else if (a->type != TOML_ARRAY) {
        return fail_key(p, k, k->n, "key `%s` is already defined as %s %s",
                        type_with_article(a->type), toml_type_name(a->type));
    }
    struct toml_value *t = toml_value_alloc(TOML_TABLE, p->source);
    set_position(p, t, header_pos);
    t->depth = (uint16_t)(a->depth + 1);
    t->flags |= TOML_FLAG_DEFINED;
    toml_array_push(a, t);
    p->current = t;
    return 0;
}

/* [key] or [[key]] at p->pos. */
static int parse_header(struct parser *p)
{
    size_t start = p->pos;
    bool array = peek_at(p, 1) == '[';
    p->pos += array ? 2 : 1;
    skip_ws(p);
    cleanup_key struct key k = {0};
    if (parse_key(p, &k) < 0)
        return -1;
    skip_ws(p);
    if (array && peek(p) == ']' && peek_at(p, 1) != ']') {
        p->pos++;
        return fail_expected(p, "`]]` after an array of tables header");
    }
    if (peek(p) != ']')
        return fail_expected(p, array ? "`]]` after an array of tables header"
                                      : "`]` after a table header");
    p->pos += array ? 2 : 1;
    p->section++;
    struct toml_value *t = p->root;
    for (size_t i = 0; i + 1 < k.n; i++) {
        t = header_descend(p, t, &k, i);
        if (t == NULL)
            return -1;
    }
    return array ? append_table(p, t, &k, start) : define_table(p, t, &k, start);
}

/* ---- documents ---- */

static int parse_document(struct parser *p)
{
    /* A byte order mark is not part of the document. */
    if (p->len >= 3 && memcmp(p->s, "\xef\xbb\xbf", 3) == 0)
        p->pos = p->line_start = 3;
    while (p->pos < p->len) {
        skip_ws(p);
        int c = peek(p);
        if (c == '[') {
            if (parse_header(p) < 0)
                return -1;
            if (end_of_line(p, "a table header") < 0)
                return -1;
        } else if (c >= 0 && c != '#' && c != '\n' && c != '\r') {
            if (parse_keyval(p, p->current) < 0)
                return -1;
            if (end_of_line(p, "a key/value pair") < 0)
                return -1;
        } else if (end_of_line(p, "whitespace") < 0) {
            return -1;
        }
    }
    return 0;
}

struct toml_value *toml_parse(const char *text, size_t len, const char *filename, struct kerr **err)
{
    struct parser p = {
        .s = text,
        .len = len,
        .line = 1,
        .filename = filename ? filename : "<string>",
        .err = err,
        .section = 1,
        .col = 1,
    };
    p.source = toml_source_new(p.filename);
    p.root = toml_value_alloc(TOML_TABLE, p.source);
    p.root->line = 1;
    p.root->column = 1;
    p.current = p.root;
    int r = parse_document(&p);
    toml_source_unref(p.source);
    if (r < 0) {
        toml_free(p.root);
        return NULL;
    }
    return p.root;
}

struct toml_value *toml_parse_file(const char *path, struct kerr **err)
{
    cleanup_free char *text = NULL;
    size_t len = 0;
    if (file_read_all(path, TOML_FILE_MAX_BYTES, &text, &len, err) < 0)
        return NULL;
    return toml_parse(text, len, path, err);
}

struct toml_value *toml_get_path(const struct toml_value *root, const char *path)
{
    struct parser p = {.s = path, .len = strlen(path), .line = 1, .filename = ""};
    cleanup_key struct key k = {0};
    skip_ws(&p);
    if (parse_key(&p, &k) < 0)
        return NULL;
    skip_ws(&p);
    if (p.pos != p.len)
        return NULL;
    const struct toml_value *v = root;
    for (size_t i = 0; i < k.n; i++) {
        if (v->type != TOML_TABLE)
            return NULL;
        v = toml_table_get_n(v, k.parts[i].s, k.parts[i].len);
        if (v == NULL)
            return NULL;
    }
    return (struct toml_value *)v;
}
