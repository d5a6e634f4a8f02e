/* Debian's libseccomp.a is compiled against glibc with _FORTIFY_SOURCE; its
 * only glibc-specific reference is __fprintf_chk (in the PFC text
 * generator, which the agent never calls).  musl's vfprintf does the work. */
#include <stdarg.h>
#include <stdio.h>

int __fprintf_chk(FILE *stream, int flag, const char *format, ...);

int __fprintf_chk(FILE *stream, int flag, const char *format, ...)
{
    (void)flag;
    va_list ap;
    va_start(ap, format);
    int n = vfprintf(stream, format, ap);
    va_end(ap);
    return n;
}
