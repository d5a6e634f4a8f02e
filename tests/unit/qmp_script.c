/* A scripted QMP peer (qmp_script.h). */
#include "qmp_script.h"
#include "util.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int qmp_script_peer = -1;

int qmp_script_open(const char *script)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    fd_write_full(sv[1], script, strlen(script));
    shutdown(sv[1], SHUT_WR);
    qmp_script_peer = sv[1];
    return sv[0];
}

char *qmp_script_sent(void)
{
    static char sent[16384];
    ssize_t n = read(qmp_script_peer, sent, sizeof(sent) - 1);
    sent[n > 0 ? n : 0] = '\0';
    return sent;
}
