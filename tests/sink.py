#!/usr/bin/env python3
"""Counts what reaches a host the proxy must never send to: every UDP
datagram and TCP connection on HOST:PORT, written as "udp N tcp M" to
COUNT_FILE after each one (so the test reads it at any time).

usage: sink.py HOST PORT COUNT_FILE
Runs until killed. Listens only; never sends."""
import selectors
import socket
import sys


def main():
    host, port, count_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    udp.bind((host, port))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind((host, port))
    tcp.listen(16)
    sel = selectors.DefaultSelector()
    sel.register(udp, selectors.EVENT_READ, "udp")
    sel.register(tcp, selectors.EVENT_READ, "tcp")
    counts = {"udp": 0, "tcp": 0}

    def write():
        with open(count_file + ".tmp", "w") as f:
            f.write(f"udp {counts['udp']} tcp {counts['tcp']}\n")
        import os
        os.replace(count_file + ".tmp", count_file)

    write()
    while True:
        for key, _ in sel.select():
            if key.data == "udp":
                udp.recvfrom(65535)
                counts["udp"] += 1
            else:
                conn, _ = tcp.accept()
                conn.close()
                counts["tcp"] += 1
            write()


if __name__ == "__main__":
    main()
