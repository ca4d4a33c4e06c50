#!/usr/bin/env python3
"""Write the seed corpus of tests/fuzz/fuzz_net_frame.c (net.h's frame format, keyed as the
target keys its connection) into tests/fuzz/corpus/fuzz_net_frame/. Run it again when the
frame format changes: seeds with wrong tags reach nothing past the tag check.
Each seed is the target's mode byte (bit 0: the peer is a client; bits 1-7: write size)
followed by the stream the peer sends. Needs python3-cryptography (for AES-GCM)."""
import hashlib, hmac, os, struct, sys

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

def hkdf(salt, ikm, info, n):
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:n]

# fuzz_net_frame.c: TH = 0x54 * 32, shared secret = 0x53 * 32; the first 32 bytes of the
# key material key the initiator -> responder direction.
KEY = hkdf(b"\x54" * 32, b"\x53" * 32, b"bulwark-net-v1 keys", 96)[:32]

def msg(seed, n):
    return bytes((seed * 7 + i) & 0xff for i in range(n))

def frame(ctr, messages):
    payload = b"".join(struct.pack("<I", len(m)) + m for m in messages)
    hdr = struct.pack("<I", len(payload))
    # GMAC: AES-256-GCM over no plaintext, nonce = counter u64 LE || 4 zero bytes
    tag = AESGCM(KEY).encrypt(struct.pack("<Q", ctr) + bytes(4), b"", hdr + payload)
    return hdr + payload + tag

seeds = {
    # client (limit 1000 bytes a message): two messages in one frame, then one at the limit
    "client_two_frames": bytes([1]) + frame(0, [msg(1, 10), msg(2, 40)]) + frame(1, [msg(3, 1000)]),
    "replica_one_frame": bytes([0]) + frame(0, [msg(4, 100)]),
    # three messages, then the first bytes of the next frame's length
    "replica_frame_then_prefix": bytes([0]) + frame(0, [msg(5, 50), msg(6, 0), msg(7, 60)]) + b"\x10\x00",
    # one message larger than the 64 KiB read buffer, which must grow
    "replica_large_frame": bytes([0]) + frame(0, [msg(8, 70000)]),
    # written in 13-byte pieces (mode bits 1-7)
    "replica_three_frames_chunked": bytes([0x1a]) + frame(0, [msg(9, 30)]) +
        frame(1, [msg(10, 100), msg(11, 100)]) + frame(2, [msg(12, 150)]),
}
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests",
                                                         "fuzz", "corpus", "fuzz_net_frame")
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
print("wrote %d seeds to %s" % (len(seeds), out))
