"""Runs Python tsercom's real TimeSyncServer (PyPI tsercom 1.1.x) on
127.0.0.1, an unprivileged port, until stdin closes; prints the port.

Started by `tsercom/tests/time_sntp_clock.rs` (real_python_time_sync_server)
with the Python in TSERCOM_PYTHON.
"""

import socket
import sys
import threading

from tsercom.threading.aio.global_event_loop import (
    create_tsercom_event_loop_from_watcher,
)
from tsercom.threading.thread_watcher import ThreadWatcher
from tsercom.timesync.server.time_sync_server import TimeSyncServer


def main() -> None:
    # A free port (the server binds its own socket, so the probe's port is
    # released first; another process taking it in between fails the start
    # loudly below).
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    create_tsercom_event_loop_from_watcher(ThreadWatcher())
    server = TimeSyncServer(address="127.0.0.1", ntp_port=port)
    if not server.start_async():
        sys.exit(f"TimeSyncServer did not start on port {port}")
    print(port, flush=True)
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    done.wait(timeout=300)
    server.stop()


if __name__ == "__main__":
    main()
