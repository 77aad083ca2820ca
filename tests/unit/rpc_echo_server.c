/*
 * rpc_echo_server.c - the real RPC server on the real event loop, serving
 * the test methods of rpc_test_methods.h, for clients written in other
 * languages (test_rpc_python.py drives it with Python's msgpack).
 *
 *   rpc_echo_server SOCKET [--mode OCTAL] [--max-connections N]
 *                          [--max-output BYTES]
 *
 * Prints "ready" once listening, serves until SIGTERM or SIGINT, then
 * closes the server (which unlinks the socket) and prints the server's
 * counters as "key value" lines.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc_test_methods.h"

static void on_signal(struct yard_loop *loop, int signo, void *arg)
{
    (void)signo;
    (void)arg;
    yard_loop_stop(loop);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: rpc_echo_server SOCKET [--mode OCTAL] [--max-connections N] "
                        "[--max-output BYTES]\n");
        return 2;
    }
    mode_t mode = 0660;
    struct yard_rpc_limits lim = {0};
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--mode") == 0)
            mode = (mode_t)strtoul(argv[i + 1], NULL, 8);
        else if (strcmp(argv[i], "--max-connections") == 0)
            lim.max_connections = (unsigned)strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--max-output") == 0)
            lim.max_output_bytes = strtoul(argv[i + 1], NULL, 10);
        else {
            fprintf(stderr, "rpc_echo_server: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    struct yard_loop loop;
    if (yard_loop_init(&loop) != 0)
        return 1;
    const int sigs[] = {SIGINT, SIGTERM};
    if (yard_loop_signals(&loop, sigs, 2, on_signal, NULL) != 0)
        return 1;
    struct rpc_test_ctx ctx = {.loop = &loop};
    char err[512];
    int rc = yard_rpc_server_open(&ctx.srv, &loop, argv[1], mode, rpc_test_dispatch, &ctx, err,
                                  sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "rpc_echo_server: %s\n", err);
        return 1;
    }
    yard_rpc_server_set_limits(ctx.srv, &lim);
    printf("ready\n");
    fflush(stdout);
    rc = yard_loop_run(&loop);
    const struct yard_rpc_stats s = *yard_rpc_server_stats(ctx.srv);
    yard_rpc_server_close(ctx.srv);
    yard_loop_fini(&loop);
    printf("requests %llu\nerrors %llu\nmalformed %llu\nnotifications %llu\n"
           "connections_accepted %llu\nconnections_refused %llu\n",
           (unsigned long long)s.requests, (unsigned long long)s.errors,
           (unsigned long long)s.malformed, (unsigned long long)s.notifications,
           (unsigned long long)s.connections_accepted, (unsigned long long)s.connections_refused);
    return rc == 0 ? 0 : 1;
}
