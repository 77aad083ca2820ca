/*
 * loadgen_offline.c - yard-loadgen's two modes that need no EAL: the route
 * list for a router's configuration (--emit-routes) and a pcap file of
 * envelope frames for replay benchmarks (--write-pcap).
 *
 * Both derive the directory from names.c, so the routes printed here and the
 * names in the frames (or in live traffic) are the same set by construction.
 */
#include "loadgen.h"
#include "names.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int yard_lg_frame_layout(const struct yard_lg_opts *o, unsigned frame_size, unsigned *name_max,
                         unsigned *src_len)
{
    unsigned room = frame_size - YARD_BENCH_HDR_LEN;
    unsigned with_src = (unsigned)strlen(o->src_name);
    unsigned nm = o->max_name_len;
    while (nm > 0 && yard_bench_envelope_len(nm, with_src, 0) > room)
        nm--;
    if (nm == o->max_name_len) {
        *name_max = nm;
        *src_len = with_src;
        return 0;
    }
    nm = o->max_name_len;
    while (nm > 0 && yard_bench_envelope_len(nm, 0, 0) > room)
        nm--;
    *name_max = nm;
    *src_len = 0;
    return nm ? 0 : -ENOSPC;
}

/* The destination of message k of a run: a routed name or, for unknown_pct %, not. */
static unsigned pick_name(const struct yard_lg_opts *o, uint64_t *rng, unsigned k, bool *known)
{
    uint64_t r = yard_lg_rand(rng);
    *known = (r % 100) >= o->unknown_pct;
    return *known ? k % o->names : o->names + (unsigned)(r >> 32) % yard_lg_unknown_names(o);
}

int yard_lg_emit_routes(const struct yard_lg_opts *o, const uint8_t mac[6])
{
    unsigned name_max = o->max_name_len, src_len;
    if (o->frame_size_set && yard_lg_frame_layout(o, o->frame_size, &name_max, &src_len) < 0) {
        fprintf(stderr, "yard-loadgen: --frame-size %u: no name fits\n", o->frame_size);
        return 1;
    }
    char ip[INET_ADDRSTRLEN], macs[18], name[YARD_BENCH_NAME_MAX + 1];
    inet_ntop(AF_INET, &o->src_ip, ip, sizeof(ip));
    yard_lg_format_mac(mac, macs);
    printf("  # %u routes to %s:%u (yard-loadgen --emit-routes, names up to %u bytes)\n", o->names,
           ip, o->src_port, name_max);
    for (unsigned i = 0; i < o->names; i++) {
        if (yard_bench_name(i, name_max, name) == 0) {
            fprintf(stderr,
                    "yard-loadgen: name %u cannot be told apart in %u bytes; use fewer --names "
                    "or a larger --max-name-len\n",
                    i, name_max);
            return 1;
        }
        printf("  - {name: \"%s\", ipv4: %s, udp_port: %u, mac: \"%s\"}\n", name, ip, o->src_port,
               macs);
    }
    return fflush(stdout) == 0 ? 0 : 1;
}

/* Classic libpcap file format: global header, then a record header per frame. */
struct pcap_file_hdr {
    uint32_t magic;
    uint16_t version_major;
    uint16_t version_minor;
    int32_t thiszone;
    uint32_t sigfigs;
    uint32_t snaplen;
    uint32_t linktype;
};

struct pcap_rec_hdr {
    uint32_t ts_sec;
    uint32_t ts_usec;
    uint32_t incl_len;
    uint32_t orig_len;
};

/* Body length that makes the envelope exactly `room` bytes, or -1. */
static int body_for(unsigned room, unsigned name_len, unsigned src_len)
{
    unsigned base = yard_bench_envelope_len(name_len, src_len, 0);
    if (base > room)
        return -1;
    unsigned b = room - base;
    if (yard_bench_envelope_len(name_len, src_len, b) == room)
        return (int)b;
    if (b > 0 && yard_bench_envelope_len(name_len, src_len, b - 1) == room)
        return (int)b - 1; /* the body's length header grew by one byte */
    return -1;
}

int yard_lg_write_pcap(const struct yard_lg_opts *o)
{
    unsigned name_max, src_len;
    if (yard_lg_frame_layout(o, o->frame_size, &name_max, &src_len) < 0) {
        fprintf(stderr, "yard-loadgen: --frame-size %u: no name fits\n", o->frame_size);
        return 1;
    }
    /* A src one byte longer absorbs the one size no body can make (bin8 -> bin16). */
    char src[YARD_BENCH_NAME_MAX + 2];
    snprintf(src, sizeof(src), "%.*s-", (int)src_len, o->src_name);

    FILE *f = fopen(o->pcap_path, "wb");
    if (!f) {
        fprintf(stderr, "yard-loadgen: %s: %s\n", o->pcap_path, strerror(errno));
        return 1;
    }
    struct pcap_file_hdr fh = {.magic = 0xa1b2c3d4,
                               .version_major = 2,
                               .version_minor = 4,
                               .snaplen = 65535,
                               .linktype = 1 /* Ethernet */};
    int err = fwrite(&fh, sizeof(fh), 1, f) != 1;

    struct yard_bench_frame_spec spec = {
        .src_ip = o->src_ip,
        .dst_ip = o->router_ip,
        .src_port = o->src_port,
        .dst_port = o->router_port,
        .src = src,
        .ttl = o->ttl,
    };
    static const uint8_t default_router_mac[6] = {0x02, 0x59, 0x41, 0x52, 0x44, 0x01};
    static const uint8_t default_src_mac[6] = {0x02, 0x59, 0x41, 0x52, 0x44, 0x02};
    memcpy(spec.dst_mac, o->router_mac_set ? o->router_mac : default_router_mac, 6);
    memcpy(spec.src_mac, o->src_mac_set ? o->src_mac : default_src_mac, 6);

    uint64_t rng = o->seed * 0x9e3779b97f4a7c15ull + 1;
    unsigned room = o->frame_size - YARD_BENCH_HDR_LEN;
    unsigned shortest = ~0u, longest = 0, with_unknown = 0;
    char name[YARD_BENCH_NAME_MAX + 1];
    uint8_t frame[YARD_BENCH_FRAME_MAX];
    for (unsigned k = 0; k < o->frames && !err; k++) {
        bool known;
        unsigned idx = pick_name(o, &rng, k, &known);
        spec.dst_len = yard_bench_name(idx, name_max, name);
        spec.dst = name;
        if (spec.dst_len == 0) {
            fprintf(stderr,
                    "yard-loadgen: name %u cannot be told apart in %u bytes (%u-byte frames); "
                    "use fewer --names\n",
                    idx, name_max, o->frame_size);
            err = 1;
            break;
        }
        spec.src_len = src_len;
        int body = body_for(room, spec.dst_len, src_len);
        if (body < 0) {
            spec.src_len = src_len + 1;
            body = body_for(room, spec.dst_len, spec.src_len);
        }
        spec.body_len = (unsigned)body;
        spec.body_fill = (uint8_t)k;
        spec.prio = yard_lg_pick_class(o, yard_lg_rand(&rng));
        spec.id = k;
        struct yard_bench_frame_info info;
        int len = body < 0 ? -ENOSPC : yard_bench_frame_build(&spec, frame, sizeof(frame), &info);
        if (len != (int)o->frame_size) {
            fprintf(stderr, "yard-loadgen: frame %u (name '%s'): cannot make exactly %u bytes\n", k,
                    name, o->frame_size);
            err = 1;
            break;
        }
        struct pcap_rec_hdr rh = {.ts_sec = k / 1000000,
                                  .ts_usec = k % 1000000,
                                  .incl_len = (uint32_t)len,
                                  .orig_len = (uint32_t)len};
        err = fwrite(&rh, sizeof(rh), 1, f) != 1 || fwrite(frame, (size_t)len, 1, f) != 1;
        shortest = spec.dst_len < shortest ? spec.dst_len : shortest;
        longest = spec.dst_len > longest ? spec.dst_len : longest;
        with_unknown += !known;
    }
    if (fclose(f) != 0)
        err = 1;
    if (err) {
        fprintf(stderr, "yard-loadgen: %s: not written completely\n", o->pcap_path);
        return 1;
    }
    fprintf(stderr,
            "yard-loadgen: wrote %u frames of %u bytes to %s: names %u..%u bytes "
            "(--max-name-len %u), src '%.*s', %u to unknown names\n",
            o->frames, o->frame_size, o->pcap_path, shortest, longest, name_max, (int)src_len,
            o->src_name, with_unknown);
    return 0;
}
