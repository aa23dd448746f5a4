"""Face tags that people gave in other tools (digiKam, Lightroom, Picasa, Mylio, Windows Photo
Gallery), read from wherever those tools keep them: XMP sidecars (`photo.jpg.xmp` and
`photo.xmp`) and the XMP packet embedded in the photo (JPEG, HEIC, TIFF, PNG, WebP).

Two standards are read: MWG regions (`mwg-rs:Regions`: a normalised centre, width and height
per face, and a name) and, for a file without named MWG face regions, Microsoft People Tagging
(`MP:RegionInfo`: `MPReg:Rectangle` as left, top, width, height, and
`MPReg:PersonDisplayName`). Regions facepair wrote itself (marked `facepair:Person`) are its
own guesses, not the user's names, and are left out.

Boxes are returned in pixels of the upright photo (as `faces.decode` gives it). A region is
taken to be relative to the photo as displayed (its EXIF orientation applied), as digiKam,
Lightroom and exiftool's MWG tags treat it; where `mwg-rs:AppliedToDimensions` gives the
stored (unrotated) width and height of a photo whose orientation swaps them, the region is
relative to the stored image and is turned upright here.

Reading never changes a file, and a file that cannot be parsed is reported, not guessed at.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree
from PIL import Image, UnidentifiedImageError

from faces.boxes import SAME_REGION_IOU, Box, iou

# the module registers the HEIF opener with Pillow too
from faces.decode import orientation_of, shown_size, turn
from faces.xmp_vocabulary import (
    AREA,
    AREA_UNIT,
    DIMENSIONS,
    MP_ITEMS,
    MP_NAME,
    MWG_AREA,
    MWG_DIMENSIONS,
    MWG_ITEMS,
    MWG_NAME,
    MWG_REGIONS,
    MWG_TYPE,
    NS,
    PARSER,
    PERSON,
    holder,
    mp_rectangle,
    q,
    value,
)

# IoU from which a tag's region and a detected face are the same face: people draw regions
# looser than a detector's box (a region 1.5 times the box's width and height overlaps it by
# 0.44), and one region is given to one face at most
MATCH = 0.3


@dataclass(frozen=True)
class FaceTag:
    """One named face region, as one file gives it."""

    name: str
    box: Box
    standard: str  # "mwg" or "mp"
    source: str  # the sidecar's path, or the photo's for its embedded packet


@dataclass
class TaggedFace:
    """The tags that mark one face, from every file that names it; `names` differ where
    two files (or two standards) disagree."""

    box: Box
    tags: list[FaceTag] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return list(dict.fromkeys(t.name for t in self.tags))

    @property
    def name(self) -> str | None:
        """The name, where every tag agrees on it."""
        names = self.names
        return names[0] if len(names) == 1 else None


@dataclass
class PhotoTags:
    """What one photo's files say about its faces."""

    faces: list[TaggedFace]
    sources: list[str]  # the files that were read (sidecars, and the photo for its packet)
    problems: list[tuple[str, str]]  # (file, what is wrong with it)

    @property
    def conflicts(self) -> list[TaggedFace]:
        return [f for f in self.faces if f.name is None]


def sidecars(photo: Path) -> list[Path]:
    """The sidecars of `photo` that exist: `photo.jpg.xmp` (digiKam, darktable, facepair)
    and `photo.xmp` (Lightroom, Capture One)."""
    found = []
    for path in (photo.with_name(photo.name + ".xmp"), photo.with_suffix(".xmp")):
        if path != photo and path.is_file() and path not in found:
            found.append(path)
    return found


def fingerprint(photo: Path) -> str:
    """What changes when a photo's tags may have changed: the sizes and modification times
    of its sidecars (the photo's own are checked with the photo)."""
    parts = []
    for path in sidecars(photo):
        st = path.stat()
        parts.append(f"{path.name}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(parts)


def read_tags(photo: Path) -> PhotoTags:
    """The named faces that `photo`'s sidecars and embedded XMP give, merged: one entry per
    face, with every tag that marks it."""
    problems: list[tuple[str, str]] = []
    try:
        with Image.open(photo) as im:
            stored = im.size
            orientation = orientation_of(im)
            packet = im.info.get("xmp")
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        return PhotoTags([], [], [(str(photo), f"cannot be read: {exc}")])
    documents: list[tuple[str, bytes]] = []
    for path in sidecars(photo):
        try:
            documents.append((str(path), path.read_bytes()))
        except OSError as exc:
            problems.append((str(path), f"cannot be read: {exc}"))
    if packet:
        documents.append((str(photo), packet.encode() if isinstance(packet, str) else packet))
    tags: list[FaceTag] = []
    for source, data in documents:
        try:
            tags += tags_in(data, source, stored, orientation)
        except etree.XMLSyntaxError as exc:
            problems.append((source, f"not valid XMP: {exc}"))
    return PhotoTags(merge(tags), [s for s, _ in documents], problems)


def merge(tags: Iterable[FaceTag]) -> list[TaggedFace]:
    """Tags of the same face (boxes overlapping by more than SAME_REGION_IOU) as one face."""
    faces: list[TaggedFace] = []
    for tag in tags:
        same = max(faces, key=lambda f: iou(f.box, tag.box), default=None)
        if same is not None and iou(same.box, tag.box) > SAME_REGION_IOU:
            same.tags.append(tag)
        else:
            faces.append(TaggedFace(tag.box, [tag]))
    return faces


def tags_in(data: bytes, source: str, stored: tuple[int, int], orientation: int
            ) -> list[FaceTag]:
    """The named face regions of one XMP document: MWG's, or Microsoft's where it has no
    named MWG face region."""
    start = data.find(b"<x:xmpmeta")
    if start < 0:
        start = data.find(b"<rdf:RDF")
    if start < 0:
        return []
    root = etree.parse(io.BytesIO(data[start:].rstrip(b"\0 \n\r\t")), PARSER).getroot()
    found = _mwg(root, stored, orientation, source)
    if not found:
        found = _mp(root, stored, orientation, source)
    return found


def _text(element: etree._Element, name: str) -> str | None:
    """A property's value, trimmed."""
    found = value(element, name)
    return None if found is None else found.strip()


def _mwg(root: etree._Element, stored: tuple[int, int], orientation: int, source: str
         ) -> list[FaceTag]:
    found: list[FaceTag] = []
    for regions in root.iterfind(f".//{MWG_REGIONS}", NS):
        frame = _frame(regions, stored, orientation)
        for li in regions.iterfind(MWG_ITEMS, NS):
            fields = holder(li)
            if fields.get(q(PERSON)) is not None:
                continue  # facepair's own guess
            kind = _text(fields, MWG_TYPE)
            name = _text(fields, MWG_NAME) or ""
            if (kind and kind.lower() != "face") or not name:
                continue
            area = fields.find(MWG_AREA, NS)
            area = holder(area) if area is not None else fields
            try:
                x, y, w, h = (float(_text(area, k) or "nan") for k in AREA)
            except ValueError:
                continue
            if _text(area, AREA_UNIT) == "pixel" and frame[1]:
                dw, dh = frame[1]
                x, y, w, h = x / dw, y / dh, w / dw, h / dh
            box = _upright((x - w / 2, y - h / 2, x + w / 2, y + h / 2),
                           shown_size(stored, orientation), orientation if frame[0] else 1)
            if box is not None:
                found.append(FaceTag(name, box, "mwg", source))
    return found


def _frame(regions: etree._Element, stored: tuple[int, int], orientation: int
           ) -> tuple[bool, tuple[float, float] | None]:
    """Whether the regions are relative to the stored (unrotated) image, and the dimensions
    they were applied to."""
    applied = regions.find(MWG_DIMENSIONS, NS)
    dims = None
    if applied is not None:
        applied = holder(applied)
        try:
            dims = (float(_text(applied, DIMENSIONS[0]) or "nan"),
                    float(_text(applied, DIMENSIONS[1]) or "nan"))
        except ValueError:
            dims = None
        if dims is not None and not all(v > 0 for v in dims):  # NaN or zero: not given
            dims = None
    swaps = orientation >= 5
    stored_frame = bool(swaps and dims and stored[0] != stored[1]
                        and _ratio(dims) == _ratio(stored))
    return stored_frame, dims


def _ratio(size: Sequence[float]) -> bool:
    """Landscape (True) or portrait (False)."""
    return size[0] > size[1]


def _mp(root: etree._Element, stored: tuple[int, int], orientation: int, source: str
        ) -> list[FaceTag]:
    found: list[FaceTag] = []
    for li in root.iterfind(MP_ITEMS, NS):
        fields = holder(li)
        rectangle = mp_rectangle(fields)
        if fields.get(q(PERSON)) is not None or rectangle is None:
            continue
        name = _text(fields, MP_NAME) or ""
        left, top, w, h = rectangle
        box = _upright((left, top, left + w, top + h), shown_size(stored, orientation), 1)
        if name and box is not None:
            found.append(FaceTag(name, box, "mp", source))
    return found


def _upright(box: Box, shown: tuple[int, int], orientation: int) -> Box | None:
    """A normalised box (x1, y1, x2, y2), relative to the stored image turned by
    `orientation` (1: relative to the photo as shown), in pixels of the photo as shown
    (`shown`: its width and height); None for a box that is empty or outside the photo."""
    values = [min(1.0, max(0.0, v)) for v in box]
    if any(v != v for v in values) or values[2] <= values[0] or values[3] <= values[1]:
        return None
    corners = [(values[0], values[1]), (values[2], values[3])]
    turned = [turn(u, v, orientation) for u, v in corners]
    xs, ys = [p[0] for p in turned], [p[1] for p in turned]
    width, height = shown
    return (min(xs) * width, min(ys) * height, max(xs) * width, max(ys) * height)


def assign(regions: Sequence[Box], faces: Sequence[Sequence[float]]) -> dict[int, int]:
    """Each region's face (region index → face index), one to one, the best overlaps first;
    regions overlapping no face by MATCH are left out."""
    pairs = sorted(((iou(r, f), i, j) for i, r in enumerate(regions)
                    for j, f in enumerate(faces)), reverse=True)
    chosen: dict[int, int] = {}
    taken: set[int] = set()
    for overlap, i, j in pairs:
        if overlap < MATCH:
            break
        if i not in chosen and j not in taken:
            chosen[i] = j
            taken.add(j)
    return chosen


def tagged_photo(photo: Path) -> bool:
    """Whether a photo may carry face tags (a sidecar, or an XMP packet that mentions
    regions), judged without parsing: for skipping untagged photos quickly."""
    if sidecars(photo):
        return True
    try:
        with photo.open("rb") as f:
            head = f.read(1 << 18)
    except OSError:
        return False
    return NS["mwg-rs"].encode() in head or NS["MP"].encode() in head  # whatever the prefixes
