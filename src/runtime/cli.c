/* Helpers every verb shares: failure reporting, signal names, arguments. */
#include "log.h"
#include "runtime.h"
#include "util.h"

#include <ctype.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void report(const char *msg)
{
    if (runtime_opts.log_path && *runtime_opts.log_path)
        log_error("%s", msg);
    fprintf(stderr, "kata-runtime: %s\n", msg);
}

int runtime_fail(struct kerr **err)
{
    report(*err && (*err)->msg ? (*err)->msg : "unknown error");
    kerr_clear(err);
    return 1;
}

int runtime_fail_msg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    report(msg);
    free(msg);
    return 1;
}

static const struct {
    const char *name;
    int number;
} signal_names[] = {
    {"HUP", SIGHUP},       {"INT", SIGINT},   {"QUIT", SIGQUIT},     {"ILL", SIGILL},
    {"TRAP", SIGTRAP},     {"ABRT", SIGABRT}, {"IOT", SIGIOT},       {"BUS", SIGBUS},
    {"FPE", SIGFPE},       {"KILL", SIGKILL}, {"USR1", SIGUSR1},     {"SEGV", SIGSEGV},
    {"USR2", SIGUSR2},     {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},     {"TERM", SIGTERM},
    {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT},     {"STOP", SIGSTOP},
    {"TSTP", SIGTSTP},     {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},     {"URG", SIGURG},
    {"XCPU", SIGXCPU},     {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},
    {"WINCH", SIGWINCH},   {"IO", SIGIO},     {"POLL", SIGPOLL},     {"PWR", SIGPWR},
    {"SYS", SIGSYS},
};

int signal_parse(const char *name)
{
    if (!name || !*name)
        return -1;
    if (isdigit((unsigned char)name[0])) {
        char *end;
        long n = strtol(name, &end, 10);
        if (*end || n <= 0 || n > SIGRTMAX)
            return -1;
        return (int)n;
    }
    const char *base = strncasecmp(name, "SIG", 3) == 0 ? name + 3 : name;
    for (size_t i = 0; i < ARRAY_SIZE(signal_names); i++)
        if (strcasecmp(base, signal_names[i].name) == 0)
            return signal_names[i].number;
    /* RTMIN+n, RTMAX-n */
    if (strncasecmp(base, "RTMIN", 5) == 0 || strncasecmp(base, "RTMAX", 5) == 0) {
        bool min = strncasecmp(base, "RTMIN", 5) == 0;
        const char *rest = base + 5;
        long offset = 0;
        if (*rest) {
            char *end;
            offset = strtol(rest, &end, 10);
            if (*end || (min && offset < 0) || (!min && offset > 0))
                return -1;
        }
        long n = (min ? SIGRTMIN : SIGRTMAX) + offset;
        if (n < SIGRTMIN || n > SIGRTMAX)
            return -1;
        return (int)n;
    }
    return -1;
}

const char *verb_id_argument(const char *verb, int argc, char **argv, int first)
{
    int n = argc - first;
    if (n != 1) {
        runtime_fail_msg("\"%s\" requires exactly 1 argument(s)", verb);
        return NULL;
    }
    return argv[first];
}

const char *verb_simple_id(const char *verb, const char *usage, int argc, char **argv)
{
    static const struct option options[] = {{"help", no_argument, NULL, 'h'}, {0}};
    int c;
    optind = 0;
    while ((c = getopt_long_only(argc, argv, "+h", options, NULL)) != -1) {
        if (c == 'h') {
            printf("Usage: kata-runtime %s\n", usage);
            exit(0);
        }
        exit(1);
    }
    return verb_id_argument(verb, argc, argv, optind);
}

int kerr_make_status(struct kerr **err, int status, const char *fmt, ...)
{
    if (!err)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    kerr_make(err, 0, "%s", msg);
    free(msg);
    (*err)->status = status;
    return -1;
}
