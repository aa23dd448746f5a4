"""This process as other processes of the service see it, on whatever host: a name that holds
leases (album jobs, work one process does for all) and labels its metrics."""

from __future__ import annotations

import os
import secrets
import socket

_TOKEN = secrets.token_hex(4)


def owner_name() -> str:
    """Its host, its process id and a random part (a process id comes back after a restart;
    the random part does not)."""
    return f"{socket.gethostname()}:{os.getpid()}:{_TOKEN}"
