"""envelope.py - message envelopes (PROTOCOL.md section 1) built by hand.

The msgpack library packs every integer and string in its narrowest form,
but the appliance must accept any width a MessagePack library may choose
(uint64 ttl, str16 names, bin32 bodies...). So the tests build envelopes
here, field by field, with the width named explicitly, and compute what the
receiver must get back (the same bytes with ttl one lower) from the same
description - never from the appliance's own output.

Also here: RFC 791/768 checksums and an Ethernet/IPv4/UDP frame decoder,
so a test can check what crossed the wire independently of the kernel.
"""
import socket
import struct

# widths for unsigned integers: name -> (marker byte or None for fixint, struct code)
UINT = {
    "fix": (None, None),
    "u8": (0xCC, "!B"),
    "u16": (0xCD, "!H"),
    "u32": (0xCE, "!I"),
    "u64": (0xCF, "!Q"),
}
STR = {"fix": None, "s8": (0xD9, "!B"), "s16": (0xDA, "!H"), "s32": (0xDB, "!I")}
BIN = {"b8": (0xC4, "!B"), "b16": (0xC5, "!H"), "b32": (0xC6, "!I")}


def uint(v, width="fix"):
    marker, code = UINT[width]
    if marker is None:
        if not 0 <= v <= 0x7F:
            raise ValueError("%d does not fit a positive fixint" % v)
        return bytes([v])
    return bytes([marker]) + struct.pack(code, v)


def string(s, width="fix"):
    b = s.encode() if isinstance(s, str) else bytes(s)
    if width == "fix":
        if len(b) > 31:
            raise ValueError("fixstr holds at most 31 bytes")
        return bytes([0xA0 | len(b)]) + b
    marker, code = STR[width]
    return bytes([marker]) + struct.pack(code, len(b)) + b


def binary(b, width="b8"):
    marker, code = BIN[width]
    return bytes([marker]) + struct.pack(code, len(b)) + b


class Envelope:
    """[ver, kind, dst, src, prio, ttl, id, body] with a chosen width per field.

    widths: dict with keys ver, kind, prio, ttl, id (UINT names), dst, src
    (STR names) and body (a BIN name, or "str:<STR name>" for a str body).
    """

    FIELDS = ("ver", "kind", "dst", "src", "prio", "ttl", "id", "body")

    def __init__(self, dst, src="", prio=2, ttl=8, id=1, body=b"", kind=0, ver=1, widths=None):
        self.ver, self.kind, self.dst, self.src = ver, kind, dst, src
        self.prio, self.ttl, self.id, self.body = prio, ttl, id, body
        self.widths = dict(ver="fix", kind="fix", dst="fix", src="fix", prio="fix", ttl="fix",
                           id="u64", body="b8")
        self.widths.update(widths or {})

    def _body(self):
        w = self.widths["body"]
        if w.startswith("str:"):
            return string(self.body, w[4:])
        return binary(self.body, w)

    def encode(self, ttl=None):
        w = self.widths
        return (
            b"\x98"
            + uint(self.ver, w["ver"])
            + uint(self.kind, w["kind"])
            + string(self.dst, w["dst"])
            + string(self.src, w["src"])
            + uint(self.prio, w["prio"])
            + uint(self.ttl if ttl is None else ttl, w["ttl"])
            + uint(self.id, w["id"])
            + self._body()
        )

    def forwarded(self):
        """What a receiver must get: the same envelope, ttl one lower."""
        return self.encode(ttl=self.ttl - 1)

    def id_offset(self):
        """Offset of the id's value bytes in encode() (a u64 id only)."""
        if self.widths["id"] != "u64":
            raise ValueError("id_offset needs a u64 id")
        w = self.widths
        head = (b"\x98" + uint(self.ver, w["ver"]) + uint(self.kind, w["kind"])
                + string(self.dst, w["dst"]) + string(self.src, w["src"])
                + uint(self.prio, w["prio"]) + uint(self.ttl, w["ttl"]))
        return len(head) + 1


def ones_complement_sum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def ipv4_header_ok(header):
    return ones_complement_sum(header) == 0xFFFF


def udp_checksum_ok(src, dst, udp):
    """True when the UDP checksum is valid; a zero checksum means 'none sent'."""
    if struct.unpack_from("!H", udp, 6)[0] == 0:
        return True
    pseudo = src + dst + struct.pack("!BBH", 0, 17, len(udp))
    return ones_complement_sum(pseudo + udp) == 0xFFFF


def mac_str(b):
    return ":".join("%02x" % x for x in b)


class Frame:
    """An Ethernet/IPv4/UDP frame taken apart."""

    def __init__(self, raw):
        self.raw = raw
        self.dst_mac, self.src_mac = mac_str(raw[0:6]), mac_str(raw[6:12])
        self.ethertype = struct.unpack_from("!H", raw, 12)[0]
        ihl = (raw[14] & 0x0F) * 4
        self.ip_header = raw[14:14 + ihl]
        total = struct.unpack_from("!H", raw, 16)[0]
        self.ip_ttl = raw[22]
        self.src_ip = socket.inet_ntoa(raw[26:30])
        self.dst_ip = socket.inet_ntoa(raw[30:34])
        self.udp = raw[14 + ihl:14 + total]
        self.sport, self.dport, self.udp_len, self.udp_cksum = struct.unpack_from("!HHHH", self.udp)
        self.payload = self.udp[8:]

    def checksums_ok(self):
        return ipv4_header_ok(self.ip_header) and udp_checksum_ok(
            self.raw[26:30], self.raw[30:34], self.udp)
