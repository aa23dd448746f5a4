"""One error family for everything a user can get wrong: a stable `code` and a message meant to
be shown as-is. How a front end reports them (the HTTP status, an exit code) is its own choice
(`service/problems.py` holds the HTTP statuses).

These are the face pipeline's (a photo, a model file, a file that is not there); the gallery's
(a full disk, a busy store, a name taken, a photo refused) are in `index.errors`."""

from __future__ import annotations


class FacepairError(Exception):
    """Base of facepair's user-facing errors; `code` is a stable machine-readable name."""

    code = "facepair_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PhotoError(FacepairError):
    """A photo that cannot be used (unreadable, unsupported, too large)."""

    code = "bad_photo"


class EmptyPhoto(PhotoError):
    code = "empty_photo"


class UnsupportedPhoto(PhotoError):
    code = "unsupported_photo"


class CorruptPhoto(PhotoError):
    code = "corrupt_photo"


class PhotoTooLarge(PhotoError):
    code = "photo_too_large"


class ModelError(FacepairError):
    """A model file that is missing or does not match what the code expects."""

    code = "bad_model"


class NotFound(FacepairError):
    """A person, photo or face id that does not exist (any more)."""

    code = "not_found"


class NoCluster(FacepairError):
    """Batch work asked of a Ray cluster where there is none (or Ray is not installed)."""

    code = "no_ray_cluster"


class UnsupportedVideo(UnsupportedPhoto):
    """A file named as a video that is none, or whose codec the decoder lacks."""

    code = "unsupported_video"


class CorruptVideo(CorruptPhoto):
    """A video whose data is corrupt or truncated."""

    code = "corrupt_video"


class VideoTooLong(PhotoTooLarge):
    """A video longer than the length limit, refused from its container's duration."""

    code = "video_too_long"
