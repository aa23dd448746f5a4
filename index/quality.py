"""The quality floor: a face whose quality (`faces.quality`) is under the `quality_floor`
setting is unrecognisable. It is answered as such (neither a name nor a stranger), and it is
never enrolled, suggested, or grouped with the unknown faces of an album."""

from __future__ import annotations

from faces.detect import Face
from index.errors import Refused
from index.settings import IndexSettings


def under_floor(quality: float | None, settings: IndexSettings) -> bool:
    """Whether a quality is under the floor (an unmeasured one, None, never is)."""
    return quality is not None and quality < settings.quality_floor


def unrecognisable(face: Face, settings: IndexSettings) -> bool:
    return under_floor(face.quality, settings)


def refuse_unrecognisable(face: Face, source: str, settings: IndexSettings) -> None:
    """Raise `Refused` (unrecognisable_face) for a face under the floor."""
    if unrecognisable(face, settings):
        raise Refused("unrecognisable_face",
                      f"{source}: the face's quality is {face.quality:.2f}, under the "
                      f"{settings.quality_floor:.2f} needed to recognise it (too small, "
                      "blurred or turned away); enroll a sharper, larger photo")
