/* A scripted QMP peer for the QMP drivers' tests (test_qemu, test_stratovirt):
 * its replies and events are queued on one end of a socketpair, whose write
 * side is then shut (the client reads EOF after the script; its own writes
 * still succeed), before the client reads them. */
#ifndef KATA_TEST_QMP_SCRIPT_H
#define KATA_TEST_QMP_SCRIPT_H

/* The client's end, or -1; the peer's end is qmp_script_peer. */
int qmp_script_open(const char *script);

extern int qmp_script_peer;

/* What the client has sent so far (a static buffer, overwritten by the next
 * call). */
char *qmp_script_sent(void);

#endif
