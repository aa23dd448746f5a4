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


class StoreUnavailable(FacepairError):
    """The store's database cannot be reached (stopped, restarting, the network between):
    the request was not done (a write cut off as it committed may have landed: read it back).
    Each process reconnects by itself once the database answers. `message` names the
    database and the driver's reason (for its operator); `public` names neither (for an API
    client)."""

    code = "store_unavailable"
    public = "the gallery's database cannot be reached; try again shortly"

    def __init__(self, database: str, reason: str) -> None:
        super().__init__(f"the gallery's database {database} cannot be reached ({reason}); "
                         f"try again shortly")


class Conflict(FacepairError):
    """A request that clashes with what is stored (a name already taken, …)."""

    code = "conflict"


class FaceExists(Conflict):
    """A face drawn by hand where a face of the photo already is."""

    code = "face_exists"


class PhotoChanged(Conflict):
    """A tagged photo whose file changed since it was tagged: what is known of it is not
    what is there."""

    code = "photo_changed"


class Refused(FacepairError):
    """A photo without the face a request needs (none, several, too small, already enrolled);
    `code` names why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class NoCollection(NotFound):
    """A collection that is not there (never made, or deleted)."""

    code = "no_collection"
