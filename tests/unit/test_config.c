/*
 * test_config.c - the YAML configuration loader (dataplane/config.c).
 *
 * Most tests feed YAML text through yard_config_parse() and check what an
 * operator would see: the converted values, or a message that names the
 * field and the bad value. The shipped profiles in configs/ are loaded from disk
 * (YARD_CONFIGS_DIR, set by meson) so a broken profile fails the build's
 * tests, not a deployment.
 */
#include "config.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <glob.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* One valid port, for tests about something else. */
#define PORT0 "ports:\n  - device: p0\n    ipv4: 198.18.0.1/24\n"

static char err[1 << 16];

static int parse(const char *yaml, struct yard_config *cfg)
{
    return yard_config_parse("t.yaml", yaml, strlen(yaml), cfg, err, sizeof(err));
}

static unsigned count_lines(const char *s)
{
    unsigned n = s[0] != '\0';

    for (; *s != '\0'; s++)
        n += *s == '\n';
    return n;
}

/* Parse `yaml`, expect it rejected with a line containing `needle`. */
static void expect_problem(const char *yaml, const char *needle)
{
    struct yard_config cfg;
    int rc = parse(yaml, &cfg);

    cr_assert_eq(rc, -EINVAL, "accepted, but expected \"%s\" for:\n%s", needle, yaml);
    cr_assert_not_null(strstr(err, needle), "expected \"%s\" in:\n%s\nfor:\n%s", needle, err, yaml);
    cr_assert_null(cfg.routes, "a rejected config keeps no routes");
    yard_config_free(&cfg);
}

static uint32_t ip(const char *s)
{
    struct in_addr a;

    cr_assert_eq(inet_pton(AF_INET, s, &a), 1);
    return a.s_addr;
}

Test(config, defaults)
{
    struct yard_config cfg;

    yard_config_defaults(&cfg);
    cr_expect_str_eq(cfg.instance, "default");
    cr_expect_eq(cfg.mode, YARD_MODE_RTC);
    cr_expect_eq(cfg.burst, 32);
    cr_expect_eq(cfg.data_udp_port, 7400);
    cr_expect_eq(cfg.mbufs, 16383);
    cr_expect_eq(cfg.mbuf_cache, 256);
    cr_expect_eq(cfg.class_queue_size, 1024);
    cr_expect(cfg.idle_backoff);
    cr_expect_eq(cfg.idle_spin_polls, 512);
    cr_expect_eq(cfg.idle_sleep_us, 200);
    cr_expect_eq(cfg.nb_workers, 0);
    cr_expect_eq(cfg.nb_tx_lcores, 0);
    cr_expect_eq(cfg.nb_ports, 0);
    cr_expect_eq(cfg.nb_routes, 0);
    cr_expect_null(cfg.routes);
    cr_expect_eq(cfg.arp_hold_packets, 4);
    cr_expect_eq(cfg.arp_retry_ms, 500);
    cr_expect_eq(cfg.arp_retries, 3);
    cr_expect_eq(cfg.neighbor_ttl_s, 300);
    cr_expect_eq(cfg.directory_capacity, 65536);
    cr_expect_eq(cfg.punt_rate_per_source, 10000);
    cr_expect_eq(cfg.punt_burst, 1000);
    cr_expect_str_eq(cfg.control.socket, "/run/yard/default.sock");
    cr_expect_eq(cfg.control.socket_mode, 0660);
    cr_expect_str_eq(cfg.control.state_dir, "/var/lib/yard/default");
    cr_expect(cfg.control.metrics_enabled);
    cr_expect_str_eq(cfg.control.metrics_listen, "127.0.0.1:9740");
    cr_expect_eq(cfg.control.metrics_ipv4, ip("127.0.0.1"));
    cr_expect_eq(cfg.control.metrics_port, 9740);
    cr_expect_eq(cfg.control.lease_ms, 30000);
    cr_expect_eq(cfg.control.max_lease_ms, 300000);
    cr_expect_eq(cfg.control.wal_compact_bytes, 67108864);
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    cr_expect_str_eq(cfg.control.node_name, host, "the node is named after its host");
}

Test(config, minimal_file_takes_defaults)
{
    struct yard_config cfg;

    cr_assert_eq(parse(PORT0, &cfg), 0, "%s", err);
    cr_expect_str_eq(cfg.path, "t.yaml");
    cr_expect_str_eq(cfg.instance, "default");
    cr_expect_eq(cfg.burst, 32);
    cr_expect_eq(cfg.nb_ports, 1);
    cr_expect_str_eq(cfg.ports[0].device, "p0");
    cr_expect_eq(cfg.ports[0].ipv4, ip("198.18.0.1"));
    cr_expect_eq(cfg.ports[0].prefix_len, 24);
    cr_expect_eq(cfg.ports[0].gateway, 0);
    cr_expect_eq(cfg.ports[0].rx_queues, 1);
    cr_expect_eq(cfg.ports[0].rx_desc, 1024);
    cr_expect_eq(cfg.ports[0].tx_desc, 1024);
    cr_expect_eq(cfg.ports[0].mtu, 0);
    cr_expect_not(cfg.ports[0].promiscuous);
    cr_expect_eq(cfg.nb_routes, 0);
    cr_expect_str_eq(err, "");
    yard_config_free(&cfg);
}

Test(config, null_values_mean_default)
{
    struct yard_config cfg;

    cr_assert_eq(parse("burst: ~\nidle:\nworkers:\nroutes:\narp: null\n" PORT0
                       "    gateway:\n    mtu: ~\n",
                       &cfg),
                 0, "%s", err);
    cr_expect_eq(cfg.burst, 32);
    cr_expect(cfg.idle_backoff);
    cr_expect_eq(cfg.nb_workers, 0);
    cr_expect_eq(cfg.nb_routes, 0);
    cr_expect_eq(cfg.arp_retries, 3);
    cr_expect_eq(cfg.ports[0].gateway, 0);
    cr_expect_eq(cfg.ports[0].mtu, 0);
    yard_config_free(&cfg);
}

static const char full_yaml[] = "instance: bench-1.a_b\n"
                                "mode: pipeline\n"
                                "burst: 64\n"
                                "data_udp_port: 7401\n"
                                "mbufs: 65535\n"
                                "mbuf_cache: 512\n"
                                "class_queue_size: 4096\n"
                                "idle:\n"
                                "  backoff: false\n"
                                "  spin_polls: 1000\n"
                                "  sleep_us: 50\n"
                                "workers: [1, 3]\n"
                                "tx_lcores:\n"
                                "  - 2\n"
                                "ports:\n"
                                "  - device: net_memif0\n"
                                "    ipv4: 198.18.0.1/24\n"
                                "    gateway: 198.18.0.254\n"
                                "    rx_queues: 2\n"
                                "    rx_desc: 512\n"
                                "    tx_desc: 2048\n"
                                "    mtu: 9000\n"
                                "    promiscuous: true\n"
                                "  - device: 0000:01:00.0\n"
                                "    ipv4: 10.1.0.1/16\n"
                                "routes:\n"
                                "  - name: svc.echo\n"
                                "    ipv4: 198.18.0.2\n"
                                "    udp_port: 7500\n"
                                "    mac: 02:59:41:52:44:0A\n"
                                "  - name: far.away\n"
                                "    ipv4: 203.0.113.9\n"
                                "    udp_port: 1\n"
                                "arp:\n"
                                "  hold_packets: 0\n"
                                "  retry_ms: 60000\n"
                                "  retries: 20\n"
                                "  neighbor_ttl_s: 86400\n";

Test(config, every_field)
{
    struct yard_config cfg;

    cr_assert_eq(parse(full_yaml, &cfg), 0, "%s", err);
    cr_expect_str_eq(cfg.instance, "bench-1.a_b");
    cr_expect_eq(cfg.mode, YARD_MODE_PIPELINE);
    cr_expect_eq(cfg.burst, 64);
    cr_expect_eq(cfg.data_udp_port, 7401);
    cr_expect_eq(cfg.mbufs, 65535);
    cr_expect_eq(cfg.mbuf_cache, 512);
    cr_expect_eq(cfg.class_queue_size, 4096);
    cr_expect_not(cfg.idle_backoff);
    cr_expect_eq(cfg.idle_spin_polls, 1000);
    cr_expect_eq(cfg.idle_sleep_us, 50);
    cr_assert_eq(cfg.nb_workers, 2);
    cr_expect_eq(cfg.workers[0], 1);
    cr_expect_eq(cfg.workers[1], 3);
    cr_assert_eq(cfg.nb_tx_lcores, 1);
    cr_expect_eq(cfg.tx_lcores[0], 2);

    cr_assert_eq(cfg.nb_ports, 2);
    cr_expect_str_eq(cfg.ports[0].device, "net_memif0");
    cr_expect_eq(cfg.ports[0].ipv4, ip("198.18.0.1"));
    cr_expect_eq(cfg.ports[0].prefix_len, 24);
    cr_expect_eq(cfg.ports[0].gateway, ip("198.18.0.254"));
    cr_expect_eq(cfg.ports[0].rx_queues, 2);
    cr_expect_eq(cfg.ports[0].rx_desc, 512);
    cr_expect_eq(cfg.ports[0].tx_desc, 2048);
    cr_expect_eq(cfg.ports[0].mtu, 9000);
    cr_expect(cfg.ports[0].promiscuous);
    cr_expect_str_eq(cfg.ports[1].device, "0000:01:00.0");
    cr_expect_eq(cfg.ports[1].ipv4, ip("10.1.0.1"));
    cr_expect_eq(cfg.ports[1].prefix_len, 16);

    cr_assert_eq(cfg.nb_routes, 2);
    cr_expect_str_eq(cfg.routes[0].name, "svc.echo");
    cr_expect_eq(cfg.routes[0].name_len, 8);
    cr_expect_eq(cfg.routes[0].ipv4, ip("198.18.0.2"));
    cr_expect_eq(cfg.routes[0].udp_port, 7500);
    cr_expect(cfg.routes[0].has_mac);
    cr_expect_arr_eq(cfg.routes[0].mac, ((uint8_t[]){0x02, 0x59, 0x41, 0x52, 0x44, 0x0a}), 6);
    cr_expect_str_eq(cfg.routes[1].name, "far.away");
    cr_expect_eq(cfg.routes[1].ipv4, ip("203.0.113.9"));
    cr_expect_eq(cfg.routes[1].udp_port, 1);
    cr_expect_not(cfg.routes[1].has_mac);

    cr_expect_eq(cfg.arp_hold_packets, 0);
    cr_expect_eq(cfg.arp_retry_ms, 60000);
    cr_expect_eq(cfg.arp_retries, 20);
    cr_expect_eq(cfg.neighbor_ttl_s, 86400);
    yard_config_free(&cfg);
    cr_expect_null(cfg.routes);
    cr_expect_eq(cfg.nb_routes, 0);
}

Test(config, mode_names)
{
    cr_expect_str_eq(yard_mode_name(YARD_MODE_RTC), "rtc");
    cr_expect_str_eq(yard_mode_name(YARD_MODE_PIPELINE), "pipeline");
}

/* Each case: a document and a piece of the message it must produce. */
struct bad_case {
    const char *yaml;
    const char *needle;
};

static const struct bad_case bad_scalars[] = {
    {"instance: bad/name\n" PORT0, "t.yaml: instance: 'bad/name': must be 1 to 31 characters"},
    {"instance: a23456789012345678901234567890123\n" PORT0,
     "instance: 'a23456789012345678901234567890123'"},
    {"instance: ''\n" PORT0, "instance: '': must be"},
    {"mode: fast\n" PORT0, "t.yaml: mode: 'fast': unknown mode; use rtc or pipeline"},
    {"burst: 0\n" PORT0, "t.yaml: burst: '0': out of range; use a number from 1 to 64"},
    {"burst: 65\n" PORT0, "burst: '65': out of range"},
    {"burst: -3\n" PORT0, "burst: '-3': negative numbers are not allowed"},
    {"burst: thirty\n" PORT0, "burst: 'thirty': not a whole number"},
    {"burst: 3.5\n" PORT0, "burst: '3.5': not a whole number"},
    {"burst: 0x20\n" PORT0, "burst: '0x20': not a whole number"},
    {"burst: 99999999999999999999999999\n" PORT0, "burst: '99999999999999999999999999': out of"},
    {"data_udp_port: 0\n" PORT0, "data_udp_port: '0': out of range; use a number from 1 to 65535"},
    {"data_udp_port: 65536\n" PORT0, "data_udp_port: '65536': out of range"},
    {"mbufs: 1000\n" PORT0, "mbufs: '1000': out of range; use a number from 1023 to 1048575"},
    {"mbufs: 1048576\n" PORT0, "mbufs: '1048576': out of range"},
    {"mbuf_cache: 513\n" PORT0, "mbuf_cache: '513': out of range; use a number from 0 to 512"},
    {"class_queue_size: 1000\n" PORT0,
     "class_queue_size: '1000': not a power of two; use a power of two from 64 to 65536, e.g. 512"},
    {"class_queue_size: 32\n" PORT0, "class_queue_size: '32': out of range"},
    {"class_queue_size: 131072\n" PORT0, "class_queue_size: '131072': out of range"},
    {"idle:\n  backoff: sometimes\n" PORT0,
     "idle.backoff: 'sometimes': not true or false; write true or false"},
    {"idle:\n  spin_polls: -1\n" PORT0, "idle.spin_polls: '-1': negative"},
    {"idle:\n  sleep_us: 0\n" PORT0, "idle.sleep_us: '0': out of range; use a number from 1 to"},
    {"idle:\n  sleep_us: 100001\n" PORT0, "idle.sleep_us: '100001': out of range"},
    {"arp:\n  hold_packets: 65\n" PORT0, "arp.hold_packets: '65': out of range"},
    {"arp:\n  retry_ms: 9\n" PORT0, "arp.retry_ms: '9': out of range"},
    {"arp:\n  retries: 21\n" PORT0, "arp.retries: '21': out of range"},
    {"arp:\n  neighbor_ttl_s: 0\n" PORT0, "arp.neighbor_ttl_s: '0': out of range"},
};

Test(config, bad_scalars)
{
    for (size_t i = 0; i < sizeof(bad_scalars) / sizeof(bad_scalars[0]); i++)
        expect_problem(bad_scalars[i].yaml, bad_scalars[i].needle);
}

static const struct bad_case bad_lcores[] = {
    {"workers: [1, 2, 1]\n" PORT0, "t.yaml: workers[2]: '1': lcore listed twice (also workers[0])"},
    {"workers: [128]\n" PORT0, "workers[0]: '128': out of range; use a number from 0 to 127"},
    {"workers: [-1]\n" PORT0, "workers[0]: '-1': negative"},
    {"workers: [one]\n" PORT0, "workers[0]: 'one': not a whole number"},
    {"mode: pipeline\nworkers: [1]\ntx_lcores: [2, 1]\n" PORT0,
     "tx_lcores[1]: '1': lcore 1 is also workers[0]"},
    {"mode: pipeline\nworkers: [1]\ntx_lcores: [2, 2]\n" PORT0, "tx_lcores[1]: '2': lcore listed"},
    {"mode: pipeline\nworkers: [1]\n" PORT0,
     "t.yaml: tx_lcores: '[]': pipeline mode needs at least one transmit lcore"},
    {"mode: pipeline\nworkers: [1]\ntx_lcores: []\n" PORT0, "tx_lcores: '[]': pipeline mode"},
    {"mode: rtc\nworkers: [1]\ntx_lcores: [2]\n" PORT0,
     "t.yaml: tx_lcores: '2': rtc mode has no transmit lcores"},
};

Test(config, bad_lcores)
{
    for (size_t i = 0; i < sizeof(bad_lcores) / sizeof(bad_lcores[0]); i++)
        expect_problem(bad_lcores[i].yaml, bad_lcores[i].needle);
}

#define PORT_WITH(x) "ports:\n  - device: p0\n    ipv4: 198.18.0.1/24\n    " x "\n"

static const struct bad_case bad_ports[] = {
    {"burst: 32\n", "t.yaml: ports: (not set): at least one port is required"},
    {"ports: []\n", "ports: (not set): at least one port is required"},
    {"ports:\n  - ipv4: 198.18.0.1/24\n", "ports[0].device: (not set): every port needs a device"},
    {"ports:\n  - device: p0\n", "ports[0].ipv4: (not set): every port needs its address"},
    {"ports:\n  - device: 'net memif'\n    ipv4: 198.18.0.1/24\n",
     "ports[0].device: 'net memif': not a device name"},
    {"ports:\n  - device: p0\n    ipv4: 198.18.0.300/24\n",
     "t.yaml: ports[0].ipv4: '198.18.0.300/24': not an IPv4 address with a prefix length; write "
     "it like 198.18.0.1/24"},
    {"ports:\n  - device: p0\n    ipv4: 198.18.0.1\n",
     "ports[0].ipv4: '198.18.0.1': not an IPv4 address with a prefix length"},
    {"ports:\n  - device: p0\n    ipv4: 198.18.0.1/x\n", "ports[0].ipv4: '198.18.0.1/x': not an"},
    {"ports:\n  - device: p0\n    ipv4: 198.18.0.1/7\n",
     "ports[0].ipv4: '198.18.0.1/7': prefix length must be 8 to 32"},
    {"ports:\n  - device: p0\n    ipv4: 198.18.0.1/33\n", "ports[0].ipv4: '198.18.0.1/33': prefix"},
    {"ports:\n  - device: p0\n    ipv4: 224.0.0.5/24\n",
     "ports[0].ipv4: '224.0.0.5/24': the address is a multicast address"},
    {"ports:\n  - device: p0\n    ipv4: 198.18.0.0/24\n",
     "ports[0].ipv4: '198.18.0.0/24': is the subnet's network address"},
    {"ports:\n  - device: p0\n    ipv4: 198.18.0.255/24\n",
     "ports[0].ipv4: '198.18.0.255/24': is the subnet's broadcast address"},
    {PORT_WITH("gateway: 10.0.0.1"),
     "ports[0].gateway: '10.0.0.1': outside the port's subnet 198.18.0.0/24"},
    {PORT_WITH("gateway: 198.18.0.1"), "ports[0].gateway: '198.18.0.1': is the port's own address"},
    {PORT_WITH("gateway: gw"), "ports[0].gateway: 'gw': not an IPv4 address"},
    {PORT_WITH("rx_queues: 0"), "ports[0].rx_queues: '0': out of range; use a number from 1 to 16"},
    {PORT_WITH("rx_queues: 17"), "ports[0].rx_queues: '17': out of range"},
    {PORT_WITH("rx_desc: 1000"), "ports[0].rx_desc: '1000': not a power of two"},
    {PORT_WITH("rx_desc: 32"), "ports[0].rx_desc: '32': out of range"},
    {PORT_WITH("tx_desc: 8192"), "ports[0].tx_desc: '8192': out of range"},
    {PORT_WITH("mtu: 67"), "ports[0].mtu: '67': out of range; use a number from 68 to 9600"},
    {PORT_WITH("mtu: 9601"), "ports[0].mtu: '9601': out of range"},
    {PORT_WITH("promiscuous: 2"), "ports[0].promiscuous: '2': not true or false"},
    {PORT0 "  - device: p0\n    ipv4: 198.19.0.1/24\n",
     "ports[1].device: 'p0': same device as ports[0]"},
    {PORT0 "  - device: p1\n    ipv4: 198.18.0.1/24\n",
     "ports[1].ipv4: '198.18.0.1/24': same address as ports[0]"},
    {PORT0 "  - device: p1\n    ipv4: 198.18.0.9/16\n",
     "ports[1].ipv4: '198.18.0.9/16': subnet overlaps ports[0] (198.18.0.1/24)"},
};

Test(config, bad_ports)
{
    for (size_t i = 0; i < sizeof(bad_ports) / sizeof(bad_ports[0]); i++)
        expect_problem(bad_ports[i].yaml, bad_ports[i].needle);
}

Test(config, too_many_ports)
{
    char yaml[8192];
    size_t o = (size_t)snprintf(yaml, sizeof(yaml), "ports:\n");

    for (int i = 0; i < YARD_CONF_MAX_PORTS + 1; i++)
        o += (size_t)snprintf(yaml + o, sizeof(yaml) - o,
                              "  - device: p%d\n    ipv4: 10.%d.0.1/24\n", i, i);
    expect_problem(yaml, "ports: '33 entries': too many ports; list at most 32");
}

#define ROUTE(x) PORT0 "routes:\n  - name: svc.a\n    ipv4: 198.18.0.2\n    udp_port: 7500\n" x

static const struct bad_case bad_routes[] = {
    {PORT0 "routes:\n  - ipv4: 198.18.0.2\n    udp_port: 1\n",
     "routes[0].name: (not set): every route needs a name"},
    {PORT0 "routes:\n  - name: ''\n    ipv4: 198.18.0.2\n    udp_port: 1\n",
     "routes[0].name: '': a name is 1 to 63 bytes"},
    {PORT0 "routes:\n  - name: "
           "a123456789012345678901234567890123456789012345678901234567890123\n"
           "    ipv4: 198.18.0.2\n    udp_port: 1\n",
     "routes[0].name: 'a123456789012345678901234567890123456789012345678901234567890123': a name "
     "is 1 to 63 bytes (this one has 64)"},
    {PORT0 "routes:\n  - name: \"a\\0b\"\n    ipv4: 198.18.0.2\n    udp_port: 1\n",
     "routes[0].name: contains a NUL byte (line 5)"},
    {ROUTE("  - name: svc.a\n    ipv4: 198.18.0.3\n    udp_port: 1\n"),
     "t.yaml: routes[1].name: 'svc.a': same name as routes[0]"},
    {PORT0 "routes:\n  - name: a\n    udp_port: 1\n",
     "routes[0].ipv4: (not set): every route needs the service host's address"},
    {PORT0 "routes:\n  - name: a\n    ipv4: 198.18.0.2\n",
     "routes[0].udp_port: (not set): every route needs the service's UDP port"},
    {PORT0 "routes:\n  - name: a\n    ipv4: 198.18.0.2\n    udp_port: 0\n",
     "routes[0].udp_port: '0': out of range; use a number from 1 to 65535"},
    {PORT0 "routes:\n  - name: a\n    ipv4: 198.18.0.2\n    udp_port: 65536\n",
     "routes[0].udp_port: '65536': out of range"},
    {PORT0 "routes:\n  - name: a\n    ipv4: 198.18.0.2\n    udp_port: -1\n",
     "routes[0].udp_port: '-1': negative"},
    {PORT0 "routes:\n  - name: a\n    ipv4: 198.18.2\n    udp_port: 1\n",
     "routes[0].ipv4: '198.18.2': not an IPv4 address"},
    {PORT0 "routes:\n  - name: a\n    ipv4: 0.0.0.0\n    udp_port: 1\n",
     "routes[0].ipv4: '0.0.0.0': the address is in 0.0.0.0/8"},
    {PORT0 "routes:\n  - name: a\n    ipv4: 239.1.1.1\n    udp_port: 1\n",
     "routes[0].ipv4: '239.1.1.1': the address is a multicast address"},
    {PORT0 "routes:\n  - name: a\n    ipv4: 255.255.255.255\n    udp_port: 1\n",
     "routes[0].ipv4: '255.255.255.255': the address is the broadcast address"},
    {PORT0 "routes:\n  - name: a\n    ipv4: 198.18.0.255\n    udp_port: 1\n",
     "routes[0].ipv4: '198.18.0.255': route 'a' points at the broadcast address of ports[0]"},
    {PORT0 "routes:\n  - name: a\n    ipv4: 198.18.0.1\n    udp_port: 1\n",
     "routes[0].ipv4: '198.18.0.1': route 'a' points at the appliance's own address"},
    {ROUTE("    mac: 02:00:00:00:00\n"), "routes[0].mac: '02:00:00:00:00': not a MAC address"},
    {ROUTE("    mac: 02-00-00-00-00-01\n"), "routes[0].mac: '02-00-00-00-00-01': not a MAC"},
    {ROUTE("    mac: 0g:00:00:00:00:01\n"), "routes[0].mac: '0g:00:00:00:00:01': not a MAC"},
    {ROUTE("    mac: 01:00:5e:00:00:01\n"),
     "routes[0].mac: '01:00:5e:00:00:01': a multicast or broadcast MAC cannot be a next hop"},
    {ROUTE("    mac: ff:ff:ff:ff:ff:ff\n"), "routes[0].mac: 'ff:ff:ff:ff:ff:ff': a multicast"},
    {ROUTE("    mac: 00:00:00:00:00:00\n"), "routes[0].mac: '00:00:00:00:00:00': all-zero MAC"},
};

Test(config, bad_routes)
{
    for (size_t i = 0; i < sizeof(bad_routes) / sizeof(bad_routes[0]); i++)
        expect_problem(bad_routes[i].yaml, bad_routes[i].needle);
}

Test(config, unreachable_route_suggests_gateway)
{
    struct yard_config cfg;

    expect_problem(PORT0 "routes:\n  - name: svc.far\n    ipv4: 10.9.8.7\n    udp_port: 7500\n",
                   "t.yaml: routes[0].ipv4: '10.9.8.7': route 'svc.far' is not reachable");
    cr_expect_not_null(strstr(err, "add gateway:"), "%s", err);

    /* With a gateway on a port, the same route is accepted. */
    cr_assert_eq(parse(PORT0 "    gateway: 198.18.0.254\n"
                             "routes:\n  - name: svc.far\n    ipv4: 10.9.8.7\n    udp_port: 7500\n",
                       &cfg),
                 0, "%s", err);
    cr_expect_eq(cfg.nb_routes, 1);
    cr_expect_eq(cfg.routes[0].ipv4, ip("10.9.8.7"));
    yard_config_free(&cfg);
}

Test(config, all_problems_reported)
{
    static const char yaml[] = "burst: 0\n"
                               "mode: warp\n"
                               "workers: [1, 1]\n"
                               "ports:\n"
                               "  - device: p0\n"
                               "    ipv4: 198.18.0.300/24\n"
                               "    rx_desc: 100\n"
                               "routes:\n"
                               "  - name: a\n"
                               "    ipv4: nowhere\n"
                               "    udp_port: 70000\n"
                               "    mac: 01:02:03:04:05:06\n"
                               "arp:\n"
                               "  retries: 0\n";
    static const char *const needles[] = {
        "t.yaml: burst: '0':",
        "t.yaml: mode: 'warp':",
        "t.yaml: workers[1]: '1':",
        "t.yaml: ports[0].ipv4: '198.18.0.300/24':",
        "t.yaml: ports[0].rx_desc: '100':",
        "t.yaml: routes[0].ipv4: 'nowhere':",
        "t.yaml: routes[0].udp_port: '70000':",
        "t.yaml: routes[0].mac: '01:02:03:04:05:06':",
        "t.yaml: arp.retries: '0':",
    };
    struct yard_config cfg;

    cr_assert_eq(parse(yaml, &cfg), -EINVAL);
    for (size_t i = 0; i < sizeof(needles) / sizeof(needles[0]); i++)
        cr_expect_not_null(strstr(err, needles[i]), "missing \"%s\" in:\n%s", needles[i], err);
    cr_expect_eq(count_lines(err), sizeof(needles) / sizeof(needles[0]), "%s", err);
    /* Every line is one problem in the "<file>: <field>: ..." form with a fix after ';'. */
    for (char *line = err; line != NULL && *line != '\0';) {
        char *nl = strchr(line, '\n');

        if (nl != NULL)
            *nl = '\0';
        cr_expect_eq(strncmp(line, "t.yaml: ", 8), 0, "%s", line);
        cr_expect_not_null(strchr(line, ';'), "no fix in: %s", line);
        line = nl != NULL ? nl + 1 : NULL;
    }
}

Test(config, unknown_keys_all_reported_with_lines)
{
    static const char yaml[] = "instance: demo\n"
                               "bursts: 32\n"
                               "ports:\n"
                               "  - device: p0\n"
                               "    ipv4: 198.18.0.1/24\n"
                               "    colour: red\n"
                               "idle:\n"
                               "  backof: true\n";
    struct yard_config cfg;

    cr_assert_eq(parse(yaml, &cfg), -EINVAL);
    cr_expect_not_null(strstr(err, "t.yaml: bursts: unknown key (line 2, column 1)"), "%s", err);
    cr_expect_not_null(strstr(err, "the keys allowed here are instance, mode, burst,"), "%s", err);
    cr_expect_not_null(strstr(err, "t.yaml: ports[0].colour: unknown key (line 6, column 5)"), "%s",
                       err);
    cr_expect_not_null(strstr(err, "t.yaml: idle.backof: unknown key (line 8, column 3)"), "%s",
                       err);
    cr_expect_eq(count_lines(err), 3, "%s", err);
}

Test(config, wrong_kind_and_repeated_key)
{
    expect_problem("workers: 1\n" PORT0,
                   "t.yaml: workers: a single value found where a list ([a, b] or one '- item' "
                   "per line) belongs (line 1, column 10)");
    expect_problem("ports:\n  - device: [a, b]\n    ipv4: 198.18.0.1/24\n",
                   "t.yaml: ports[0].device: a list found where a single value belongs (line 2");
    expect_problem("idle: 5\n" PORT0, "t.yaml: idle: a single value found where a block");
    expect_problem("- a\n- b\n", "t.yaml: (top level): a list found where a block");
    expect_problem("burst: 1\nburst: 2\n" PORT0, "t.yaml: burst: given twice (line 2)");
}

Test(config, syntax_error_has_line)
{
    expect_problem("ports:\n- device: a\n bad: 1\n",
                   "t.yaml: line 3, column 2: YAML syntax error: did not find expected key");
    expect_problem("instance: \"demo\nports: []\n", "t.yaml: line 3, column 1: YAML syntax error");
    expect_problem("ports: [p0\n", "YAML syntax error");
}

Test(config, libcyaml_message_is_captured)
{
    /* An alias without its anchor: only libcyaml notices, and its log must reach err. */
    expect_problem("instance: *nowhere\n" PORT0, "t.yaml: No anchor found for alias: 'nowhere'");
}

Test(config, anchors_and_aliases_work)
{
    struct yard_config cfg;

    cr_assert_eq(parse(PORT0 "routes:\n"
                             "  - name: a\n    ipv4: &host 198.18.0.7\n    udp_port: 1\n"
                             "  - name: b\n    ipv4: *host\n    udp_port: 2\n",
                       &cfg),
                 0, "%s", err);
    cr_expect_eq(cfg.routes[1].ipv4, ip("198.18.0.7"));
    yard_config_free(&cfg);
}

Test(config, value_in_message_is_escaped_and_cut)
{
    char yaml[1024];
    char long_mode[301];

    memset(long_mode, 'x', 300);
    long_mode[300] = '\0';
    snprintf(yaml, sizeof(yaml), "mode: \"a\\tb'c\"\n" PORT0);
    expect_problem(yaml, "mode: 'a\\x09b\\x27c': unknown mode");
    snprintf(yaml, sizeof(yaml), "mode: %s\n" PORT0, long_mode);
    expect_problem(yaml, "xxx...': unknown mode");
}

Test(config, small_error_buffer_counts_the_rest)
{
    char small[300];
    char yaml[4096];
    size_t o = (size_t)snprintf(yaml, sizeof(yaml), PORT0 "routes:\n");
    struct yard_config cfg;

    for (int i = 0; i < 20; i++)
        o += (size_t)snprintf(yaml + o, sizeof(yaml) - o,
                              "  - name: r%d\n    ipv4: bad\n    udp_port: 1\n", i);
    cr_assert_eq(yard_config_parse("t.yaml", yaml, o, &cfg, small, sizeof(small)), -EINVAL);
    cr_expect_not_null(strstr(small, "t.yaml: routes[0].ipv4: 'bad'"), "%s", small);
    cr_expect_not_null(strstr(small, "more problems not shown"), "%s", small);
    cr_expect_lt(strlen(small), sizeof(small));

    /* No buffer at all still returns the error. */
    cr_expect_eq(yard_config_parse("t.yaml", yaml, o, &cfg, NULL, 0), -EINVAL);
}

Test(config, load_from_file)
{
    char path[] = "/tmp/yard-test-config-XXXXXX";
    int fd = mkstemp(path);
    struct yard_config cfg;

    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, full_yaml, sizeof(full_yaml) - 1), (ssize_t)sizeof(full_yaml) - 1);
    close(fd);
    cr_expect_eq(yard_config_load(path, &cfg, err, sizeof(err)), 0, "%s", err);
    cr_expect_str_eq(cfg.path, path);
    cr_expect_eq(cfg.nb_routes, 2);
    yard_config_free(&cfg);
    unlink(path);
}

Test(config, missing_file)
{
    struct yard_config cfg;

    cr_expect_eq(yard_config_load("/nonexistent/yard.yaml", &cfg, err, sizeof(err)), -ENOENT);
    cr_expect_str_eq(err, "/nonexistent/yard.yaml: cannot open: No such file or directory");
    cr_expect_eq(yard_config_load("/tmp", &cfg, err, sizeof(err)), -EISDIR);
    cr_expect_str_eq(err, "/tmp: cannot read: Is a directory");
}

/* A generated list of `n` routes, all valid; the caller frees it. */
static char *route_list(unsigned n, size_t *len)
{
    size_t cap = 128 + (size_t)n * 100;
    char *yaml = malloc(cap);
    size_t o;

    cr_assert_not_null(yaml);
    o = (size_t)snprintf(yaml, cap,
                         "directory_capacity: %u\nports:\n  - device: p0\n    ipv4: "
                         "198.18.0.1/15\nroutes:\n",
                         n < 1024 ? 1024 : n);
    for (unsigned i = 0; i < n; i++)
        o += (size_t)snprintf(yaml + o, cap - o,
                              "  - name: svc.%u\n    ipv4: 198.19.%u.%u\n    udp_port: %u\n", i,
                              (i / 254) % 256, i % 254 + 1, 1 + i % 65535);
    *len = o;
    return yaml;
}

Test(config, large_route_list, .timeout = 60)
{
    const unsigned n = 100000;
    struct yard_config cfg;
    struct timespec t0, t1;
    size_t len;
    char *yaml = route_list(n, &len);
    char *dup;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_assert_eq(yard_config_parse("big.yaml", yaml, len, &cfg, err, sizeof(err)), 0, "%s", err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cr_log_info("%u routes loaded in %.3f s", n,
                (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    cr_assert_eq(cfg.nb_routes, n);
    cr_expect_str_eq(cfg.routes[0].name, "svc.0");
    cr_expect_eq(cfg.routes[0].ipv4, ip("198.19.0.1"));
    cr_expect_str_eq(cfg.routes[n - 1].name, "svc.99999");
    cr_expect_eq(cfg.routes[n - 1].ipv4, ip("198.19.137.178"));
    cr_expect_eq(cfg.routes[n - 1].udp_port, 34465);
    yard_config_free(&cfg);

    /* Rename the last route to the name of route 5: the duplicate must be found. */
    dup = strstr(yaml, "name: svc.99999\n");
    cr_assert_not_null(dup);
    memcpy(dup, "name: svc.5    \n", 16);
    cr_assert_eq(yard_config_parse("big.yaml", yaml, len, &cfg, err, sizeof(err)), -EINVAL);
    cr_expect_str_eq(err, "big.yaml: routes[99999].name: 'svc.5': same name as routes[5]; each "
                          "name has one static route, remove or rename one");
    free(yaml);
}

Test(config, shipped_configs_load)
{
    const char *dir = getenv("YARD_CONFIGS_DIR");
    char pattern[4096];
    glob_t g;

    cr_assert_not_null(dir, "YARD_CONFIGS_DIR is not set (meson sets it to configs/)");
    snprintf(pattern, sizeof(pattern), "%s/*.yaml", dir);
    cr_assert_eq(glob(pattern, 0, NULL, &g), 0, "no configuration in %s", dir);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        struct yard_config cfg;

        cr_expect_eq(yard_config_load(g.gl_pathv[i], &cfg, err, sizeof(err)), 0, "%s", err);
        yard_config_free(&cfg);
    }
    globfree(&g);
}

Test(config, default_config_matches_the_demo)
{
    const char *dir = getenv("YARD_CONFIGS_DIR");
    char path[4096];
    struct yard_config cfg;
    static const uint8_t loadgen_mac[6] = {0x02, 0x59, 0x41, 0x52, 0x44, 0x02};

    cr_assert_not_null(dir);
    snprintf(path, sizeof(path), "%s/default.yaml", dir);
    cr_assert_eq(yard_config_load(path, &cfg, err, sizeof(err)), 0, "%s", err);
    /* The demo passes --vdev net_memif0 and runs the load generator at 198.18.0.2. */
    cr_expect_str_eq(cfg.instance, "demo");
    cr_expect_eq(cfg.mode, YARD_MODE_RTC);
    cr_expect(cfg.idle_backoff, "the demo shares two cores with the load generator");
    cr_assert_eq(cfg.nb_ports, 1);
    cr_expect_str_eq(cfg.ports[0].device, "net_memif0");
    cr_expect_eq(cfg.ports[0].ipv4, ip("198.18.0.1"));
    cr_expect_eq(cfg.ports[0].prefix_len, 24);
    cr_assert_eq(cfg.nb_workers, 1);
    cr_expect_eq(cfg.workers[0], 1);
    cr_assert_geq(cfg.nb_routes, 3);
    for (unsigned i = 0; i < cfg.nb_routes; i++) {
        cr_expect_eq(cfg.routes[i].ipv4, ip("198.18.0.2"), "%s", cfg.routes[i].name);
        cr_expect(cfg.routes[i].has_mac, "%s", cfg.routes[i].name);
        cr_expect_arr_eq(cfg.routes[i].mac, loadgen_mac, 6, "%s", cfg.routes[i].name);
    }
    yard_config_free(&cfg);
}

Test(config, smallest_pool_takes_largest_cache)
{
    struct yard_config cfg;

    /* DPDK needs cache <= n / 1.5: 512 <= 1023 / 1.5 = 682, so this pair must load. */
    cr_assert_eq(parse("mbufs: 1023\nmbuf_cache: 512\n" PORT0, &cfg), 0, "%s", err);
    cr_expect_eq(cfg.mbufs, 1023);
    cr_expect_eq(cfg.mbuf_cache, 512);
    yard_config_free(&cfg);
}

/* ---- The directory, the punt limit and the control plane's section ---- */

Test(config, control_defaults_follow_the_instance)
{
    struct yard_config cfg;

    cr_assert_eq(parse("instance: edge-2\n" PORT0, &cfg), 0, "%s", err);
    cr_expect_str_eq(cfg.control.socket, "/run/yard/edge-2.sock");
    cr_expect_str_eq(cfg.control.state_dir, "/var/lib/yard/edge-2");
    cr_expect_eq(cfg.control.socket_mode, 0660);
    cr_expect_eq(cfg.directory_capacity, 65536);
    cr_expect_eq(cfg.punt_rate_per_source, 10000);
    cr_expect_eq(cfg.punt_burst, 1000);
    yard_config_free(&cfg);

    /* An empty section is the defaults too. */
    cr_assert_eq(parse("instance: edge-3\ncontrol:\n" PORT0, &cfg), 0, "%s", err);
    cr_expect_str_eq(cfg.control.socket, "/run/yard/edge-3.sock");
    cr_expect_eq(cfg.control.lease_ms, 30000);
    yard_config_free(&cfg);
}

Test(config, directory_punt_and_control_fields)
{
    struct yard_config cfg;

    cr_assert_eq(parse("directory_capacity: 16777216\n"
                       "punt_rate_per_source: 0\n"
                       "punt_burst: 1\n"
                       "control:\n"
                       "  socket: /tmp/yard/ctl.sock\n"
                       "  socket_mode: 0600\n"
                       "  state_dir: /srv/yard\n"
                       "  metrics_listen: 0.0.0.0:19740\n"
                       "  lease_ms: 1000\n"
                       "  max_lease_ms: 1000\n"
                       "  node_name: rack4.yard-07_b\n"
                       "  wal_compact_bytes: 65536\n" PORT0,
                       &cfg),
                 0, "%s", err);
    cr_expect_eq(cfg.directory_capacity, 16777216);
    cr_expect_eq(cfg.punt_rate_per_source, 0, "0: no limit");
    cr_expect_eq(cfg.punt_burst, 1);
    cr_expect_str_eq(cfg.control.socket, "/tmp/yard/ctl.sock");
    cr_expect_eq(cfg.control.socket_mode, 0600);
    cr_expect_str_eq(cfg.control.state_dir, "/srv/yard");
    cr_expect(cfg.control.metrics_enabled);
    cr_expect_str_eq(cfg.control.metrics_listen, "0.0.0.0:19740");
    cr_expect_eq(cfg.control.metrics_ipv4, 0);
    cr_expect_eq(cfg.control.metrics_port, 19740);
    cr_expect_eq(cfg.control.lease_ms, 1000);
    cr_expect_eq(cfg.control.max_lease_ms, 1000);
    cr_expect_str_eq(cfg.control.node_name, "rack4.yard-07_b");
    cr_expect_eq(cfg.control.wal_compact_bytes, 65536);
    yard_config_free(&cfg);

    cr_assert_eq(parse("directory_capacity: 1024\npunt_rate_per_source: 100000000\n"
                       "punt_burst: 1000000\n"
                       "control:\n  metrics_listen: off\n  lease_ms: 3600000\n"
                       "  max_lease_ms: 86400000\n  wal_compact_bytes: 1099511627776\n"
                       "  socket_mode: 0\n" PORT0,
                       &cfg),
                 0, "%s", err);
    cr_expect_eq(cfg.directory_capacity, 1024);
    cr_expect_eq(cfg.punt_rate_per_source, 100000000);
    cr_expect_eq(cfg.punt_burst, 1000000);
    cr_expect_not(cfg.control.metrics_enabled, "off disables metrics");
    cr_expect_str_eq(cfg.control.metrics_listen, "");
    cr_expect_eq(cfg.control.lease_ms, 3600000);
    cr_expect_eq(cfg.control.max_lease_ms, 86400000);
    cr_expect_eq(cfg.control.wal_compact_bytes, 1099511627776ull);
    cr_expect_eq(cfg.control.socket_mode, 0);
    yard_config_free(&cfg);
}

Test(config, socket_mode_is_read_as_chmod_reads_it)
{
    static const struct {
        const char *text;
        uint32_t mode;
    } ok[] = {
        {"0660", 0660}, {"0o640", 0640}, {"0O700", 0700}, {"'0644'", 0644},
        {"0777", 0777}, {"00", 0},       {"432", 0660},   {"0", 0},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct yard_config cfg;
        char yaml[256];

        snprintf(yaml, sizeof(yaml), "control:\n  socket_mode: %s\n" PORT0, ok[i].text);
        cr_assert_eq(parse(yaml, &cfg), 0, "%s: %s", ok[i].text, err);
        cr_expect_eq(cfg.control.socket_mode, ok[i].mode, "%s read as %o", ok[i].text,
                     cfg.control.socket_mode);
        yard_config_free(&cfg);
    }
}

static const struct bad_case bad_control[] = {
    {"directory_capacity: 1023\n" PORT0,
     "t.yaml: directory_capacity: '1023': out of range; use a number from 1024 to 16777216"},
    {"directory_capacity: 16777217\n" PORT0, "directory_capacity: '16777217': out of range"},
    {"directory_capacity: lots\n" PORT0, "directory_capacity: 'lots': not a whole number"},
    {"punt_rate_per_source: -5\n" PORT0, "punt_rate_per_source: '-5': negative"},
    {"punt_rate_per_source: 100000001\n" PORT0, "punt_rate_per_source: '100000001': out of range"},
    {"punt_burst: 0\n" PORT0, "t.yaml: punt_burst: '0': out of range; use a number from 1 to"},
    {"punt_burst: 1000001\n" PORT0, "punt_burst: '1000001': out of range"},
    {"control:\n  socket: run/yard.sock\n" PORT0,
     "t.yaml: control.socket: 'run/yard.sock': must be an absolute path of at most 107 bytes; "
     "write e.g. /run/yard/default.sock"},
    {"instance: x1\ncontrol:\n  socket: /"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaa\n" PORT0,
     "at most 107 bytes; write e.g. /run/yard/x1.sock"},
    {"control:\n  socket_mode: 0778\n" PORT0,
     "t.yaml: control.socket_mode: '0778': not a file mode; write it in octal with a leading "
     "zero, e.g. 0660"},
    {"control:\n  socket_mode: 660\n" PORT0,
     "control.socket_mode: '660': out of range: a mode is 0 to 0777; write it in octal"},
    {"control:\n  socket_mode: 01000\n" PORT0, "control.socket_mode: '01000': out of range"},
    {"control:\n  socket_mode: rw-rw----\n" PORT0, "control.socket_mode: 'rw-rw----': not a"},
    {"control:\n  socket_mode: 0o\n" PORT0, "control.socket_mode: '0o': not a file mode"},
    {"control:\n  socket_mode: -0660\n" PORT0, "control.socket_mode: '-0660': not a file mode"},
    {"control:\n  state_dir: var/lib/yard\n" PORT0,
     "control.state_dir: 'var/lib/yard': must be an absolute path of at most 255 bytes; write "
     "e.g. /var/lib/yard/default"},
    {"control:\n  metrics_listen: 127.0.0.1\n" PORT0,
     "t.yaml: control.metrics_listen: '127.0.0.1': not ADDRESS:PORT; write e.g. 127.0.0.1:9740, "
     "or off to disable metrics"},
    {"control:\n  metrics_listen: localhost:9740\n" PORT0,
     "control.metrics_listen: 'localhost:9740': the address is not an IPv4 address"},
    {"control:\n  metrics_listen: 127.0.0.256:9740\n" PORT0, "not an IPv4 address"},
    {"control:\n  metrics_listen: 127.0.0.1:0\n" PORT0,
     "control.metrics_listen: '127.0.0.1:0': the port must be a number from 1 to 65535"},
    {"control:\n  metrics_listen: 127.0.0.1:65536\n" PORT0, "the port must be a number"},
    {"control:\n  metrics_listen: '127.0.0.1:'\n" PORT0, "the port must be a number"},
    {"control:\n  metrics_listen: 127.0.0.1:http\n" PORT0, "the port must be a number"},
    {"control:\n  lease_ms: 999\n" PORT0,
     "control.lease_ms: '999': out of range; use a number from 1000 to 3600000"},
    {"control:\n  lease_ms: 3600001\n  max_lease_ms: 86400000\n" PORT0,
     "control.lease_ms: '3600001': out of range"},
    {"control:\n  max_lease_ms: 86400001\n" PORT0,
     "control.max_lease_ms: '86400001': out of range"},
    {"control:\n  lease_ms: 600000\n" PORT0,
     "t.yaml: control.max_lease_ms: '300000': below control.lease_ms (600000): the default lease "
     "would be over the longest one allowed; raise max_lease_ms to at least 600000 or lower "
     "lease_ms"},
    {"control:\n  lease_ms: 5000\n  max_lease_ms: 4999\n" PORT0,
     "control.max_lease_ms: '4999': below control.lease_ms (5000)"},
    {"control:\n  node_name: ''\n" PORT0,
     "t.yaml: control.node_name: '': must be 1 to 63 characters from A-Z a-z 0-9 _ . -"},
    {"control:\n  node_name: yard 1\n" PORT0, "control.node_name: 'yard 1': must be 1 to 63"},
    {"control:\n  node_name: n/1\n" PORT0, "control.node_name: 'n/1': must be"},
    {"control:\n  node_name: "
     "n234567890123456789012345678901234567890123456789012345678901234\n" PORT0,
     "control.node_name: 'n234567890123456789012345678901234567890123456789012345678901234'"},
    {"control:\n  wal_compact_bytes: 65535\n" PORT0,
     "control.wal_compact_bytes: '65535': out of range; use a number from 65536 to"},
    {"control:\n  wal_compact_bytes: 1099511627777\n" PORT0,
     "control.wal_compact_bytes: '1099511627777': out of range"},
    {"control:\n  socket_path: /run/x.sock\n" PORT0, "control.socket_path: unknown key"},
    {"control: /run/yard.sock\n" PORT0, "control: a single value found where a block"},
};

Test(config, bad_control_and_directory_values)
{
    for (size_t i = 0; i < sizeof(bad_control) / sizeof(bad_control[0]); i++)
        expect_problem(bad_control[i].yaml, bad_control[i].needle);
}

Test(config, routes_must_fit_the_directory)
{
    char *yaml;
    size_t len;
    struct yard_config cfg;

    /* 1025 routes: the smallest directory is too small for them. */
    yaml = route_list(1025, &len);
    char *cap = strstr(yaml, "directory_capacity: 1025");
    cr_assert_not_null(cap);
    memcpy(cap, "directory_capacity: 1024", 24);
    cr_assert_eq(yard_config_parse("big.yaml", yaml, len, &cfg, err, sizeof(err)), -EINVAL);
    cr_expect_str_eq(err, "big.yaml: directory_capacity: '1024': smaller than the 1025 routes in "
                          "this file; raise directory_capacity to at least 1025 (and leave room "
                          "for the names applications register)");
    memcpy(cap, "directory_capacity: 1025", 24);
    cr_assert_eq(yard_config_parse("big.yaml", yaml, len, &cfg, err, sizeof(err)), 0, "%s", err);
    cr_expect_eq(cfg.directory_capacity, 1025);
    yard_config_free(&cfg);
    free(yaml);
}

Test(config, bench_profile_holds_a_million_names_unlimited)
{
    const char *dir = getenv("YARD_CONFIGS_DIR");
    char path[4096];
    struct yard_config cfg;

    cr_assert_not_null(dir);
    snprintf(path, sizeof(path), "%s/bench.yaml", dir);
    cr_assert_eq(yard_config_load(path, &cfg, err, sizeof(err)), 0, "%s", err);
    cr_expect_geq(cfg.directory_capacity, 1048576);
    cr_expect_eq(cfg.punt_rate_per_source, 0);
    yard_config_free(&cfg);
}

Test(config, node_name_defaults_to_the_host_name_or_its_first_label)
{
    struct yard_config cfg;
    /* A host name of our own, in a UTS namespace of this test's process. */
    if (unshare(CLONE_NEWUTS) != 0)
        cr_skip_test("needs CAP_SYS_ADMIN for a UTS namespace: %s", strerror(errno));

    /* 64 bytes: one more than a node name may have. */
    const char *fqdn = "edge-7.rack-3.example.internal.a-long-domain-name-for-tests.nett";
    cr_assert_eq(strlen(fqdn), 64);
    cr_assert_eq(sethostname(fqdn, strlen(fqdn)), 0);
    cr_assert_eq(parse(PORT0, &cfg), 0, "%s", err);
    cr_expect_str_eq(cfg.control.node_name, "edge-7", "a host name over 63 bytes: its first label");
    yard_config_free(&cfg);

    cr_assert_eq(sethostname("yard-a1", 7), 0);
    cr_assert_eq(parse(PORT0, &cfg), 0, "%s", err);
    cr_expect_str_eq(cfg.control.node_name, "yard-a1");
    yard_config_free(&cfg);

    cr_assert_eq(sethostname("bad!host", 8), 0);
    expect_problem(PORT0, "t.yaml: control.node_name: (not set): the host name 'bad!host' is not "
                          "a usable node name");
    cr_assert_eq(parse("control:\n  node_name: n1\n" PORT0, &cfg), 0, "%s", err);
    cr_expect_str_eq(cfg.control.node_name, "n1", "a given name needs no usable host name");
    yard_config_free(&cfg);
}

/* ---- The cluster's section ---- */

Test(config, cluster_absent_is_standalone)
{
    struct yard_config cfg;

    cr_assert_eq(parse(PORT0, &cfg), 0, "%s", err);
    cr_expect(!cfg.cluster.enabled);
    yard_config_free(&cfg);
}

Test(config, cluster_fields)
{
    struct yard_config cfg;
    static const char key32[] = "HvY8ubRZMgafUOWvrOadwOckVa1wN3QWAo46FVKbVN8=";

    cr_assert_eq(parse("cluster:\n"
                       "  bind: 198.18.0.1:7946\n"
                       "  advertise: 198.18.9.9:17946\n"
                       "  join: [198.18.0.2:7946, 198.18.0.3:7000]\n"
                       "  profile: local\n"
                       "  data_address: 198.18.0.1:7401\n"
                       "  keys: [HvY8ubRZMgafUOWvrOadwOckVa1wN3QWAo46FVKbVN8=, "
                       "AAECAwQFBgcICQoLDA0ODw==]\n"
                       "  probe_interval_ms: 500\n"
                       "  probe_timeout_ms: 200\n"
                       "  gossip_interval_ms: 100\n"
                       "  gossip_nodes: 4\n"
                       "  suspicion_mult: 3\n"
                       "  retransmit_mult: 2\n"
                       "  push_pull_interval_ms: 15000\n" PORT0,
                       &cfg),
                 0, "%s", err);
    cr_expect(cfg.cluster.enabled);
    cr_expect_eq(cfg.cluster.bind_ipv4, ip("198.18.0.1"));
    cr_expect_eq(cfg.cluster.bind_port, 7946);
    cr_expect_eq(cfg.cluster.advertise_ipv4, ip("198.18.9.9"));
    cr_expect_eq(cfg.cluster.advertise_port, 17946);
    cr_expect_eq(cfg.cluster.nb_join, 2);
    cr_expect_str_eq(cfg.cluster.join[1], "198.18.0.3:7000");
    cr_expect_str_eq(cfg.cluster.profile, "local");
    cr_expect_eq(cfg.cluster.data_ipv4, ip("198.18.0.1"));
    cr_expect_eq(cfg.cluster.data_port, 7401);
    cr_expect_eq(cfg.cluster.nb_keys, 2);
    cr_expect_str_eq(cfg.cluster.keys[0], key32, "the first key is the primary");
    cr_expect_eq(cfg.cluster.probe_interval_ms, 500);
    cr_expect_eq(cfg.cluster.probe_timeout_ms, 200);
    cr_expect_eq(cfg.cluster.gossip_interval_ms, 100);
    cr_expect_eq(cfg.cluster.gossip_nodes, 4);
    cr_expect_eq(cfg.cluster.suspicion_mult, 3);
    cr_expect_eq(cfg.cluster.retransmit_mult, 2);
    cr_expect_eq(cfg.cluster.push_pull_interval_ms, 15000);
    yard_config_free(&cfg);

    /* Only bind: memberlist's LAN profile, no seeds, no keys. */
    cr_assert_eq(parse("cluster:\n  bind: 127.0.0.1:7946\n" PORT0, &cfg), 0, "%s", err);
    cr_expect_str_eq(cfg.cluster.profile, "lan");
    cr_expect_eq(cfg.cluster.nb_join, 0);
    cr_expect_eq(cfg.cluster.nb_keys, 0);
    cr_expect_eq(cfg.cluster.probe_interval_ms, 0, "0: the profile's");
    yard_config_free(&cfg);
}

static const struct bad_case bad_cluster[] = {
    {"cluster:\n  profile: lan\n" PORT0, "cluster.bind: (not set): the gossip address is required"},
    {"cluster:\n  bind: 198.18.0.1\n" PORT0, "cluster.bind: '198.18.0.1': not ADDRESS:PORT"},
    {"cluster:\n  bind: 198.18.0.1:0\n" PORT0, "the port must be a number from 1 to 65535"},
    {"cluster:\n  bind: 0.0.0.0:7946\n" PORT0, "set cluster.advertise"},
    {"cluster:\n  bind: 198.18.0.1:7946\n  join: [yard-2:7946]\n" PORT0,
     "cluster.join[0]: 'yard-2:7946': the address is not an IPv4 address"},
    {"cluster:\n  bind: 198.18.0.1:7946\n  profile: fast\n" PORT0,
     "cluster.profile: 'fast': unknown timing profile; use lan"},
    {"cluster:\n  bind: 198.18.0.1:7946\n  keys: [c2hvcnQ=]\n" PORT0,
     "cluster.keys[0]: (not set): not a gossip key: base64 of 16, 24 or 32 bytes"},
    {"cluster:\n  bind: 198.18.0.1:7946\n  probe_interval_ms: 500\n  probe_timeout_ms: 500\n" PORT0,
     "cluster.probe_timeout_ms: '500': not below cluster.probe_interval_ms (500)"},
    {"cluster:\n  bind: 198.18.0.1:7946\n  gossip_nodes: 0\n" PORT0,
     "cluster.gossip_nodes: '0': out of range"},
    {"cluster:\n  bind: 198.18.0.1:7946\n  data_address: 198.18.0.1:x\n" PORT0,
     "cluster.data_address: '198.18.0.1:x': the port must be"},
};

Test(config, cluster_problems_name_the_field)
{
    for (size_t i = 0; i < sizeof(bad_cluster) / sizeof(bad_cluster[0]); i++)
        expect_problem(bad_cluster[i].yaml, bad_cluster[i].needle);
}
