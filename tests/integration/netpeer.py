#!/usr/bin/env python3
# netpeer.py: a hand-made bulwark peer for the integration tests: it speaks net/'s
# handshake and frames (net/net.h) from scratch so that it can misbehave on purpose:
# garbage before the handshake, malformed or oversized frames after it, a replica
# identity the group does not know. Each check prints one line and exits 0 when the
# replica behaved (closed the connection, or answered), 1 otherwise.
#
#   netpeer.py garbage HOST PORT
#   netpeer.py info HOST PORT GROUP EPOCH                  (client: INFO_REQ -> INFO)
#   netpeer.py frame HOST PORT GROUP EPOCH KIND            (client, then a bad frame)
#        KIND: malformed | wrongtype | badmac | badbundle | oversize | huge
#   netpeer.py impostor HOST PORT GROUP EPOCH ID KEY.pem   (claims to be replica ID)
#   netpeer.py echo HOST PORT GROUP EPOCH ID KEY.pem       (replica ID, its own key: an
#        old freshness statement of the replica sent back to it is not signed again)
import hashlib
import hmac
import os
import socket
import struct
import sys
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NET_VERSION = 3     # net/net.h NET_PROTO_VERSION: length-prefixed messages, GMAC tags
HELLO_LEN = 124
SIG_LEN = 64
TIMEOUT = 5.0
ROLE_REPLICA, ROLE_CLIENT = 1, 2
SENDER_CLIENT = 0xFFFFFFFF
INFO_REQ, INFO = 192, 193
PREPARE = 4
STATEMENT = 66      # wire/chunk.h WIRE_STATEMENT: statement [132] | replica u32 | sig [64]
HDR_LEN = 24
ST_LEN = 132


def raw(key):
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def closed_by_peer(s):
    """True if the peer closes the connection (EOF or reset) within TIMEOUT."""
    s.settimeout(TIMEOUT)
    try:
        while True:
            data = s.recv(65536)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


class Session:
    """An initiator-side session after a completed handshake."""

    def __init__(self, sock, k_out, k_in, auth):
        self.sock, self.k_out, self.k_in, self.auth = sock, k_out, k_in, auth
        self.ctr_out = self.ctr_in = 0

    def tag(self, key, ctr, payload):
        """GMAC: AES-256-GCM with no plaintext, nonce = counter u64 LE || 4 zero bytes,
        over length u32 || payload."""
        nonce = struct.pack("<Q", ctr) + bytes(4)
        return AESGCM(key).encrypt(nonce, b"", struct.pack("<I", len(payload)) + payload)

    def send(self, message, bad_mac=False):
        """One frame carrying the one message."""
        self.send_payload(struct.pack("<I", len(message)) + message, bad_mac)

    def send_payload(self, payload, bad_mac=False):
        """One frame with this payload as it is (messages laid out or not)."""
        t = self.tag(self.k_out, self.ctr_out, payload)
        if bad_mac:
            t = bytes(b ^ 0xFF for b in t)
        self.sock.sendall(struct.pack("<I", len(payload)) + payload + t)
        self.ctr_out += 1

    def recv(self):
        """The first message of the next frame (a replica sends one message here)."""
        payload = self.recv_payload()
        if payload is None or len(payload) < 4:
            return None
        (m,) = struct.unpack("<I", payload[:4])
        if m > len(payload) - 4:
            raise RuntimeError("reply frame's message runs past it")
        return payload[4:4 + m]

    def recv_payload(self):
        self.sock.settimeout(TIMEOUT)
        hdr = recv_exact(self.sock, 4)
        if hdr is None:
            return None
        (n,) = struct.unpack("<I", hdr)
        body = recv_exact(self.sock, n + 16)
        if body is None:
            return None
        payload, t = body[:n], body[n:]
        if not hmac.compare_digest(t, self.tag(self.k_in, self.ctr_in, payload)):
            raise RuntimeError("reply frame has a bad MAC")
        self.ctr_in += 1
        return payload


def handshake(host, port, role, replica_id, group, epoch, identity):
    """Returns a Session, or None if the responder closed during the handshake."""
    s = socket.create_connection((host, port), timeout=TIMEOUT)
    eph = X25519PrivateKey.generate()
    hello = (b"BWK1" + struct.pack("<HBBIQQ", NET_VERSION, role, 0, replica_id, group, epoch) +
             raw(eph.public_key()) + raw(identity.public_key()) + os.urandom(32))
    assert len(hello) == HELLO_LEN
    s.sendall(hello)
    try:
        reply = recv_exact(s, HELLO_LEN + SIG_LEN)
    except (ConnectionResetError, socket.timeout):
        reply = None
    if reply is None:
        s.close()
        return None
    hello_r = reply[:HELLO_LEN]
    th = hashlib.sha256(b"bulwark-net-v1 transcript" + hello + hello_r).digest()
    shared = eph.exchange(X25519PublicKey.from_public_bytes(hello_r[28:60]))
    km = HKDF(algorithm=hashes.SHA256(), length=96, salt=th,
              info=b"bulwark-net-v1 keys").derive(shared)
    s.sendall(identity.sign(b"bulwark-net-v1 initiator" + th))
    return Session(s, km[0:32], km[32:64], km[64:96])


def header(msg_type, sender, group, epoch):
    return struct.pack("<BBHIQQ", 1, msg_type, 0, sender, group, epoch)


def say(ok, text):
    print(("ok: " if ok else "FAIL: ") + text)
    return 0 if ok else 1


def cmd_garbage(host, port):
    s = socket.create_connection((host, port), timeout=TIMEOUT)
    s.sendall(os.urandom(300))
    return say(closed_by_peer(s), "garbage before the handshake closes the connection")


def cmd_info(host, port, group, epoch):
    sess = handshake(host, port, ROLE_CLIENT, 0, group, epoch, Ed25519PrivateKey.generate())
    if sess is None:
        return say(False, "client handshake refused")
    sess.send(header(INFO_REQ, SENDER_CLIENT, group, epoch))
    reply = sess.recv()
    ok = reply is not None and len(reply) == 24 + 92 and reply[1] == INFO
    return say(ok, "INFO_REQ answered with INFO (%s bytes)" % (len(reply) if reply else "no"))


def cmd_frame(host, port, group, epoch, kind):
    sess = handshake(host, port, ROLE_CLIENT, 0, group, epoch, Ed25519PrivateKey.generate())
    if sess is None:
        return say(False, "client handshake refused")
    if kind == "malformed":      # a REQUEST header followed by a truncated body
        sess.send(header(1, SENDER_CLIENT, group, epoch) + b"\x00" * 10)
    elif kind == "wrongtype":    # a well-formed PREPARE: replicas only
        sess.send(header(PREPARE, SENDER_CLIENT, group, epoch) +
                  struct.pack("<QQ", 0, 1) + b"\x11" * 32)
    elif kind == "badmac":
        sess.send(header(INFO_REQ, SENDER_CLIENT, group, epoch), bad_mac=True)
    elif kind == "badbundle":    # an authentic frame: an INFO_REQ, then a length past the end
        info = header(INFO_REQ, SENDER_CLIENT, group, epoch)
        sess.send_payload(struct.pack("<I", len(info)) + info + struct.pack("<I", 100) + b"x")
    elif kind == "oversize":     # above the client frame limit, below the replica one
        sess.sock.sendall(struct.pack("<I", 3 << 20) + b"\x00" * 1024)
    elif kind == "huge":         # a length prefix near 4 GiB
        sess.sock.sendall(struct.pack("<I", 0xFFFFFFF0) + b"\x00" * 64)
    else:
        return say(False, "unknown frame kind " + kind)
    return say(closed_by_peer(sess.sock), "%s frame closes the connection" % kind)


def messages(payload):
    """The messages of one frame's payload (u32 length, bytes; repeated)."""
    out, i = [], 0
    while i + 4 <= len(payload):
        (m,) = struct.unpack("<I", payload[i:i + 4])
        out.append(payload[i + 4:i + 4 + m])
        i += 4 + m
    return out


def statements(sess, seconds):
    """(raw, replica, sig) of each STATEMENT received within seconds."""
    got, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        sess.sock.settimeout(max(0.05, end - time.monotonic()))
        try:
            payload = sess.recv_payload()
        except socket.timeout:
            break
        if payload is None:
            break
        for m in messages(payload):
            if len(m) == HDR_LEN + ST_LEN + 4 + SIG_LEN and m[1] == STATEMENT:
                body = m[HDR_LEN:]
                got.append((body[:ST_LEN], struct.unpack("<I", body[ST_LEN:ST_LEN + 4])[0],
                            body[ST_LEN + 4:]))
    return got


def st_seq_time(raw):
    return struct.unpack("<QQ", raw[36:52])


def cmd_echo(host, port, group, epoch, replica_id, key_path):
    """As replica ID (its real key; that replica must be down), collect the statements
    the replica at PORT signs while a load runs (until 3 s pass without one), then sign
    one of them, 30 to 50 seqs older than its newest (older than every slot of its table,
    still in its history), as replica ID and send it to the replica five times. The
    replica must not sign that statement again. Exit 0 if it did not, 1 if it did, 3 if the check could not be set up (too few
    statements, or the time bucket changed)."""
    with open(key_path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    sess = handshake(host, port, ROLE_REPLICA, replica_id, group, epoch, key)
    if sess is None:
        return say(False, "handshake as replica %d refused" % replica_id)
    seen = {}
    while True:
        got = statements(sess, 3.0)
        if not got and seen:
            break
        for raw_st, signer, sig in got:
            seen.setdefault(st_seq_time(raw_st), (raw_st, signer, sig))
        if len(seen) > 2000:
            break
    if not seen:
        print("inconclusive: no statements received")
        return 3
    newest = max(seen)
    old = [k for k in seen if newest[0] - 50 <= k[0] <= newest[0] - 30 and k[1] == newest[1]]
    if not old:
        print("inconclusive: no statement 30-50 seqs older than seq %d in its bucket" % newest[0])
        return 3
    target = min(old)
    raw_st, signer, _ = seen[target]
    # Sent as this replica's own statement (a STATEMENT carries its sender's signature).
    msg = (header(STATEMENT, replica_id, group, epoch) + raw_st +
           struct.pack("<I", replica_id) + key.sign(raw_st))
    again = 0
    for _ in range(5):
        sess.send(msg)
        again += sum(1 for r, s, _ in statements(sess, 0.3) if r == raw_st and s == signer)
    again += sum(1 for r, s, _ in statements(sess, 1.0) if r == raw_st and s == signer)
    return say(again == 0, "statement of seq %d (newest %d) sent back 5 times: signed again %d "
               "times" % (target[0], newest[0], again))


def cmd_impostor(host, port, group, epoch, replica_id, key_path):
    with open(key_path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    sess = handshake(host, port, ROLE_REPLICA, replica_id, group, epoch, key)
    if sess is None:
        return say(True, "unknown key for replica %d refused in the handshake" % replica_id)
    return say(closed_by_peer(sess.sock), "unknown key for replica %d: connection closed" % replica_id)


def main(argv):
    if len(argv) < 4:
        print(__doc__ or "see the header of netpeer.py", file=sys.stderr)
        return 2
    cmd, host, port = argv[1], argv[2], int(argv[3])
    if cmd == "garbage":
        return cmd_garbage(host, port)
    group, epoch = int(argv[4]), int(argv[5])
    if cmd == "info":
        return cmd_info(host, port, group, epoch)
    if cmd == "frame":
        return cmd_frame(host, port, group, epoch, argv[6])
    if cmd == "impostor":
        return cmd_impostor(host, port, group, epoch, int(argv[6]), argv[7])
    if cmd == "echo":
        return cmd_echo(host, port, group, epoch, int(argv[6]), argv[7])
    print("netpeer.py: unknown command " + cmd, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
