#!/usr/bin/env python3
"""tcpcut.py - a one-connection TCP relay that drops the connection on purpose,
for the live-migration tests (migrate.sh): "a dropped TCP connection".

    tcpcut.py LISTEN_PORT TARGET_PORT WHEN

It accepts one connection on 127.0.0.1:LISTEN_PORT, connects to
127.0.0.1:TARGET_PORT and relays both ways, reading the sender's stream as
the migration's records (16-byte little-endian header: type, pages, arg;
docs/MIGRATION.md) so it knows where it is.  WHEN:
    pages    close both sides in the middle of the first PAGES record
    state    close both sides once the STATE record went through (before the
             receiver's "ready" can come back)
It prints "cut" when it did.  Both sides see the connection end (RST).
"""
import select, socket, struct, sys

listen_port, target_port, when = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", listen_port))
ls.listen(1)
print("listening", flush=True)
a, _ = ls.accept()
b = socket.create_connection(("127.0.0.1", target_port))

def cut():
    for s in (a, b):
        # SO_LINGER 0: close with RST, as a failed link or a crashed router would leave it.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    print("cut", flush=True)
    sys.exit(0)

buf = b""          # sender -> receiver bytes not yet parsed
need = 16          # bytes until the next header boundary
in_body = 0        # body bytes left of the current record
cur = None
while True:
    r, _, _ = select.select([a, b], [], [])
    if b in r:
        d = b.recv(65536)
        if not d:
            cut()
        a.sendall(d)
    if a in r:
        d = a.recv(65536)
        if not d:
            cut()
        out = b""
        while d:
            if in_body:
                n = min(in_body, len(d))
                if cur == 2 and when == "pages" and n < in_body:
                    b.sendall(out + d[: n // 2])
                    cut()
                out += d[:n]
                d = d[n:]
                in_body -= n
                if not in_body and cur == 4 and when == "state":
                    b.sendall(out)
                    cut()
                continue
            take = min(16 - len(buf), len(d))
            buf += d[:take]
            out += d[:take]
            d = d[take:]
            if len(buf) == 16:
                typ, pages, arg = struct.unpack("<IIQ", buf)
                buf = b""
                cur = typ
                in_body = pages * 4096 if typ == 2 else (arg if typ in (1, 4) else 0)
        b.sendall(out)
