/*
 * yardctl.c - the operator's CLI: global options, the command table, and
 * each command's argument parsing and help.
 *
 * Commands only parse arguments here and hand a filled options struct to
 * their own file (stats.c, ...), so a command's behaviour can be read
 * without the parsing around it. Exit codes are the same for every command:
 * 0 success, 1 runtime error (the appliance is not there, refused, ...),
 * 2 usage error (unknown option, bad value), so scripts can tell "you typed
 * it wrong" from "it is down".
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE   2

#define DEFAULT_INSTANCE "default"

struct command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv, const char *instance);
    void (*help)(FILE *out);
};

static void program_help(FILE *out);

/* ---- stats ---- */

static void stats_help(FILE *out)
{
    fprintf(out,
            "usage: yardctl [-i INSTANCE] stats [-o table|json] [--watch SECONDS] [--count N]\n"
            "\n"
            "Counters of a running (or stopped) appliance, read from its shared memory;\n"
            "works with no control plane running.\n"
            "\n"
            "  -o, --output FORMAT  table (default) or json: one object with instance,\n"
            "                       dataplane, control, totals, drops, classes, ports,\n"
            "                       lcores, latency_ns\n"
            "  -w, --watch SECONDS  every SECONDS (fractions allowed) print one line of\n"
            "                       per-second rates: rx messages, routed, tx, dropped with\n"
            "                       the top drop reasons, and latency p50/p99 over the\n"
            "                       interval; with -o json one object per line. Runs until\n"
            "                       SIGINT or SIGTERM\n"
            "  -n, --count N        with --watch, stop after N lines (alone: --watch 1)\n"
            "  -i, --instance NAME  as the global option\n"
            "  -h, --help           this help\n");
}

static int parse_watch(const char *arg, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if (errno != 0 || end == arg || *end != '\0' || !isfinite(v) || v < 0.01 || v > 86400)
        return -EINVAL;
    *out = v;
    return 0;
}

static int parse_count(const char *arg, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (errno != 0 || end == arg || *end != '\0' || v <= 0)
        return -EINVAL;
    *out = v;
    return 0;
}

static int run_stats(int argc, char **argv, const char *instance)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'}, {"watch", required_argument, NULL, 'w'},
        {"count", required_argument, NULL, 'n'},  {"instance", required_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    struct yard_cli_stats_opts o = {.instance = instance, .output = YARD_CLI_OUT_TABLE};
    char prog[] = "yardctl stats"; /* getopt's own messages name argv[0] */
    argv[0] = prog;
    int c;
    optind = 0; /* glibc: full re-initialisation for the command's own argv */
    while ((c = getopt_long(argc, argv, "o:w:n:i:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            if (strcmp(optarg, "table") == 0) {
                o.output = YARD_CLI_OUT_TABLE;
            } else if (strcmp(optarg, "json") == 0) {
                o.output = YARD_CLI_OUT_JSON;
            } else {
                fprintf(stderr, "yardctl stats: output format '%s' is unknown; use table or json\n",
                        optarg);
                return EXIT_USAGE;
            }
            break;
        case 'w':
            if (parse_watch(optarg, &o.watch_s) != 0) {
                fprintf(stderr,
                        "yardctl stats: --watch '%s' is not a number of seconds between 0.01 and "
                        "86400\n",
                        optarg);
                return EXIT_USAGE;
            }
            break;
        case 'n':
            if (parse_count(optarg, &o.count) != 0) {
                fprintf(stderr, "yardctl stats: --count '%s' is not a positive integer\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'i':
            o.instance = optarg;
            break;
        case 'h':
            stats_help(stdout);
            return 0;
        default:
            fprintf(stderr, "yardctl stats: see 'yardctl stats --help'\n");
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "yardctl stats: unexpected argument '%s'; see 'yardctl stats --help'\n",
                argv[optind]);
        return EXIT_USAGE;
    }
    if (o.count > 0 && o.watch_s == 0)
        o.watch_s = 1;
    return yard_cli_stats(&o, stdout, stderr);
}

/* ---- the command table ---- */

static int run_help(int argc, char **argv, const char *instance);

static void help_help(FILE *out)
{
    fprintf(out, "usage: yardctl help [COMMAND]\n");
}

static const struct command commands[] = {
    {"stats", "counters, drops, ports, lcores and latency, from shared memory", run_stats,
     stats_help},
    {"help", "help on yardctl or on one command", run_help, help_help},
};

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static int run_help(int argc, char **argv, const char *instance)
{
    (void)instance;
    if (argc < 2) {
        program_help(stdout);
        return 0;
    }
    const struct command *cmd = find_command(argv[1]);
    if (cmd == NULL) {
        fprintf(stderr, "yardctl: no command '%s'; see 'yardctl --help'\n", argv[1]);
        return EXIT_USAGE;
    }
    cmd->help(stdout);
    return 0;
}

static void program_help(FILE *out)
{
    fprintf(out, "usage: yardctl [-i INSTANCE] COMMAND [ARGS]\n"
                 "\n"
                 "Operate a Switchyard appliance.\n"
                 "\n"
                 "Commands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(out,
            "\n"
            "Options:\n"
            "  -i, --instance NAME  appliance instance (default: $YARD_INSTANCE, else '%s')\n"
            "  -h, --help           this help; 'yardctl COMMAND --help' for a command\n"
            "\n"
            "Exit status: 0 success, 1 runtime error (e.g. no such instance), 2 usage error.\n",
            DEFAULT_INSTANCE);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"instance", required_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *instance = getenv("YARD_INSTANCE");
    if (instance == NULL || instance[0] == '\0')
        instance = DEFAULT_INSTANCE;

    int c;
    /* '+': stop at the command name; what follows is the command's. */
    while ((c = getopt_long(argc, argv, "+i:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'i':
            instance = optarg;
            break;
        case 'h':
            program_help(stdout);
            return 0;
        default:
            fprintf(stderr, "yardctl: see 'yardctl --help'\n");
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        program_help(stderr);
        return EXIT_USAGE;
    }
    const struct command *cmd = find_command(argv[optind]);
    if (cmd == NULL) {
        fprintf(stderr, "yardctl: no command '%s'; see 'yardctl --help'\n", argv[optind]);
        return EXIT_USAGE;
    }
    int rc = cmd->run(argc - optind, argv + optind, instance);
    return rc == 0 ? 0 : rc == EXIT_USAGE ? EXIT_USAGE : EXIT_RUNTIME;
}
