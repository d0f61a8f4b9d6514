#!/usr/bin/env python3
"""A loopback SMTP server for the mail tests (aiosmtpd, from scripts/python-tools.txt).

Stores every message it accepts as one .eml file in --dir (written under a temporary
name, then renamed, so a reader never sees half a file), then answers 250. While the
file --delay-file exists and holds a number of seconds, it waits that long after storing
and before answering, so a test can kill the sender between the server taking the mail
and the sender hearing so. Prints "READY <port>" once it listens.

    python3 scripts/smtp-sink.py --port 2525 --dir /tmp/mails [--delay-file /tmp/delay]
"""
import argparse
import asyncio
import itertools
import os
import signal
import sys
import time

from aiosmtpd.controller import Controller


class Store:
    def __init__(self, folder, delay_file):
        self.folder = folder
        self.delay_file = delay_file
        self.counter = itertools.count(1)

    async def handle_DATA(self, server, session, envelope):
        n = next(self.counter)
        name = f"{time.time_ns()}-{os.getpid()}-{n:06d}.eml"
        tmp = os.path.join(self.folder, "." + name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(b"X-Envelope-From: " + envelope.mail_from.encode() + b"\r\n")
            f.write(b"X-Envelope-To: " + ",".join(envelope.rcpt_tos).encode() + b"\r\n")
            f.write(envelope.original_content or envelope.content)
        os.rename(tmp, os.path.join(self.folder, name))
        delay = 0.0
        if self.delay_file:
            try:
                with open(self.delay_file) as f:
                    delay = float(f.read().strip() or 0)
            except (OSError, ValueError):
                delay = 0.0
        if delay > 0:
            await asyncio.sleep(delay)
        return "250 OK stored"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--delay-file")
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    controller = Controller(Store(args.dir, args.delay_file), hostname="127.0.0.1", port=args.port)
    controller.start()
    print(f"READY {args.port}", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT}) if hasattr(signal, "sigwait") else signal.pause()
    controller.stop()


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    main()
    sys.exit(0)
