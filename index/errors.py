"""The gallery's errors: what its store and its policies refuse. They are of facepair's one
error family (`faces.errors.FacepairError`: a stable `code` and a message meant to be shown
as-is); `service/problems.py` holds their HTTP statuses."""

from __future__ import annotations

from faces.errors import FacepairError, NotFound


class StorageFull(FacepairError):
    """The disk (or the file size allowed) is full: nothing of the request was stored."""

    code = "storage_full"


class StoreBusy(FacepairError):
    """The store stayed locked by other writers for its whole wait: nothing was done."""

    code = "busy"


class Conflict(FacepairError):
    """A request that clashes with what is stored (a name already taken, …)."""

    code = "conflict"


class Refused(FacepairError):
    """A photo without the face a request needs (none, several, too small, already enrolled);
    `code` names why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class NoCollection(NotFound):
    """A collection that is not there (never made, or deleted)."""

    code = "no_collection"
