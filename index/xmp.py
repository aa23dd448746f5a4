"""XMP sidecars (`photo.jpg.xmp`) that photo managers read (digiKam, Lightroom, darktable,
Windows Photos): MWG face regions (`mwg-rs:Regions`: a name and a normalised centre/size area
per face), the same faces as Microsoft People Tagging regions (`MP:RegionInfo`: a name and a
normalised left, top, width, height), as digiKam writes both, and
`Iptc4xmpExt:PersonInImage`.

A sidecar is the user's file; facepair only keeps its own part of it up to date:

- every region facepair writes carries `facepair:Person` (the person's id in the gallery), and
  the names it added to `PersonInImage` are listed in `facepair:PersonInImage`. A rewrite (after
  tagging, renaming, merging or deleting someone) replaces exactly those and nothing else;
- another tool's region at the place of one of our faces wins: ours is not written, and the
  disagreement is reported when the names differ;
- everything else (other regions, ratings, keywords, other namespaces and their prefixes,
  comments) is carried over as parsed; the new document is parsed again before it replaces the
  old one, through a temporary file of our own, flushed to disk;
- a sidecar that does not parse, or that is a symbolic link, is never replaced, moved or
  removed: `SidecarError` names it and the file stays as it is.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from faces.boxes import SAME_REGION_IOU, Box, iou
from faces.xmp_vocabulary import (
    ADDED_PEOPLE,
    AREA,
    AREA_UNIT,
    DIMENSIONS,
    DIMENSIONS_UNIT,
    ITEMS,
    MP_INFO,
    MP_ITEMS,
    MP_NAME,
    MP_RECTANGLE,
    MP_REGIONS,
    MWG_AREA,
    MWG_DIMENSIONS,
    MWG_ITEMS,
    MWG_LIST,
    MWG_NAME,
    MWG_REGIONS,
    MWG_TYPE,
    NS,
    PARSER,
    PERSON,
    PERSON_IN_IMAGE,
    holder,
    mp_rectangle,
    q,
    value,
)
from index.files import write_whole

_XPACKET = (b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>\n',
            b'\n<?xpacket end="w"?>\n')


class SidecarError(Exception):
    """A sidecar facepair will not touch (it cannot be parsed, or is a link): left as it is."""


@dataclass(frozen=True)
class Region:
    name: str
    x: float  # centre, normalised to the photo's width
    y: float
    w: float
    h: float
    person: int | None = None  # facepair's person id (None: another tool's region)

    @classmethod
    def from_box(cls, name: str, box: Sequence[float], width: int, height: int,
                 person: int | None = None) -> Region:
        x1, y1, x2, y2 = (max(0.0, box[0]), max(0.0, box[1]), min(width, box[2]),
                          min(height, box[3]))
        return cls(name, (x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width,
                   (y2 - y1) / height, person)

    @property
    def corners(self) -> Box:
        """The region as x1, y1, x2, y2 (normalised)."""
        return (self.x - self.w / 2, self.y - self.h / 2, self.x + self.w / 2,
                self.y + self.h / 2)

    def overlaps(self, other: Region) -> bool:
        """Whether the two regions mark the same face."""
        return iou(self.corners, other.corners) > SAME_REGION_IOU


@dataclass
class Synced:
    """What a rewrite did: whether the file changed, and our regions left out because
    another tool's region with another name is at that face (theirs, ours)."""

    path: Path
    changed: bool
    disagreements: list[tuple[Region, Region]] = field(default_factory=list)


def sidecar_path(photo: Path) -> Path:
    return photo.with_name(photo.name + ".xmp")


def _region(fields: etree._Element) -> Region | None:
    area = fields.find(MWG_AREA, NS)
    if area is None:
        area = fields
    try:
        box = [float(value(area, k) or "nan") for k in AREA]
    except ValueError:
        return None
    if any(v != v for v in box):  # NaN: no area
        return None
    mark = fields.get(q(PERSON))
    x, y, w, h = box
    return Region(value(fields, MWG_NAME) or "", x, y, w, h,
                  person=int(mark) if mark is not None and mark.isdigit() else None)


def read_regions(path: Path) -> list[Region]:
    """Every face region in a sidecar (ours carry `person`)."""
    return [r for _, r in _regions(_parse(path)[0].getroot()) if r is not None]


def _regions(root: etree._Element) -> list[tuple[etree._Element, Region | None]]:
    return [(li, _region(holder(li))) for li in
            root.iterfind(f".//rdf:Description/{MWG_REGIONS}/{MWG_ITEMS}", NS)]


def _mp_regions(root: etree._Element) -> list[tuple[etree._Element, Region | None]]:
    """Microsoft People Tagging regions, as `Region`s (centre and size)."""
    found: list[tuple[etree._Element, Region | None]] = []
    for li in root.iterfind(MP_ITEMS, NS):
        fields = holder(li)
        rectangle = mp_rectangle(fields)
        region = None
        if rectangle is not None:
            left, top, w, h = rectangle
            mark = fields.get(q(PERSON))
            region = Region(value(fields, MP_NAME) or "", left + w / 2,
                            top + h / 2, w, h,
                            person=int(mark) if mark is not None and mark.isdigit() else None)
        found.append((li, region))
    return found


def _parse(path: Path) -> tuple[etree._ElementTree, bytes]:
    """A sidecar's document and the bytes it was read from (read once)."""
    if path.is_symlink():
        raise SidecarError(f"{path}: a symbolic link; facepair leaves it as it is")
    data = path.read_bytes()
    try:
        tree = etree.parse(io.BytesIO(data), PARSER)
    except etree.XMLSyntaxError as exc:
        raise SidecarError(f"{path}: not valid XML ({exc}); facepair leaves it as it is") from exc
    if tree.getroot().find(".//rdf:RDF", NS) is None and tree.getroot().tag != q("rdf:RDF"):
        raise SidecarError(f"{path}: no rdf:RDF element; facepair leaves it as it is")
    return tree, data


def _new() -> etree._ElementTree:
    root = etree.Element(q("x:xmpmeta"), nsmap={"x": NS["x"]})
    rdf = etree.SubElement(root, q("rdf:RDF"), nsmap={"rdf": NS["rdf"]})
    etree.SubElement(rdf, q("rdf:Description"), {q("rdf:about"): ""})
    return etree.ElementTree(root)


def _child(parent: etree._Element, name: str) -> etree._Element:
    """`parent`'s child of this name, made where there is none."""
    found = parent.find(name, NS)
    if found is None:
        found = etree.SubElement(parent, q(name))
    return found


def sync_sidecar(photo: Path, regions: Sequence[Region], width: int, height: int,
                 create: bool = True, areas: bool = True) -> Synced | None:
    """Make facepair's part of `photo`'s sidecar say `regions` (each with its `person`):
    facepair's earlier regions and names go, the user's stay. Without a sidecar, one is made
    when there are regions and `create`; otherwise None. Without `areas` (a video's), only
    the names go into `PersonInImage`, as no region. Raises SidecarError for a sidecar that
    must not be touched."""
    path = sidecar_path(photo)
    exists = path.exists() or path.is_symlink()
    if not exists and (not regions or not create):
        return None
    tree, original = _parse(path) if exists else (_new(), b"")
    synced = Synced(path, False, _sync_document(tree.getroot(), regions, width, height,
                                                areas))
    if not exists:
        etree.indent(tree, space=" ")
        data = _XPACKET[0] + etree.tostring(tree, encoding="utf-8") + _XPACKET[1]
    else:
        data = etree.tostring(tree, encoding="utf-8",
                              xml_declaration=original.lstrip().startswith(b"<?xml"))
        if original.endswith(b"\n") and not data.endswith(b"\n"):
            data += b"\n"
    etree.fromstring(data, PARSER)  # what replaces the sidecar parses, or nothing is written
    if data != original:
        _save(data, path)
        synced.changed = True
    return synced


def sync_embedded(photo: Path, regions: Sequence[Region], width: int, height: int,
                  create: bool = True, areas: bool = True) -> Synced | None:
    """As `sync_sidecar`, in the XMP packet inside a JPEG (`index.jpeg_xmp`): nothing of the
    photo but that packet changes. Raises PhotoLeftAlone for a photo that must not be
    touched, SidecarError for a packet that does not parse."""
    from index.jpeg_xmp import read_packet, write_packet

    original = read_packet(photo)
    if original is None and (not regions or not create):
        return None
    if original is None:
        tree = _new()
    else:
        start = original.find(b"<x:xmpmeta")
        try:
            tree = etree.ElementTree(etree.fromstring(
                original[max(0, start) :].split(b"<?xpacket end")[0].strip(), PARSER))
        except etree.XMLSyntaxError as exc:
            raise SidecarError(f"{photo}: its XMP does not parse ({exc}); facepair leaves "
                               "it as it is") from exc
    synced = Synced(photo, False, _sync_document(tree.getroot(), regions, width, height,
                                                 areas))
    etree.indent(tree, space=" ")
    data = _XPACKET[0] + etree.tostring(tree, encoding="utf-8") + _XPACKET[1]
    etree.fromstring(data, PARSER)
    if original is None or data != original.rstrip(b" "):
        write_packet(photo, data)
        synced.changed = True
    return synced


def _sync_document(root: etree._Element, regions: Sequence[Region], width: int,
                   height: int, areas: bool = True) -> list[tuple[Region, Region]]:
    """Make facepair's part of one XMP document say `regions` (without `areas`, their
    names only); returns the disagreements (another tool's region at one of our faces, with
    another name: theirs is kept)."""
    # facepair's earlier regions go; every other region stays
    foreign: list[Region] = []
    emptied: list[etree._Element] = []
    for li, region in _regions(root) + _mp_regions(root):
        if holder(li).get(q(PERSON)) is not None:
            bag = li.getparent()
            assert bag is not None
            bag.remove(li)
            emptied.append(bag)
        elif region is not None:
            foreign.append(region)
    for bag in emptied:  # a region list that held only facepair's regions goes whole
        container = bag.getparent()
        if len(bag) == 0 and container is not None:
            _remove(container.getparent())

    disagreements: list[tuple[Region, Region]] = []
    written: list[Region] = []
    for r in regions:
        theirs = next((f for f in foreign if f.name and f.overlaps(r)), None) if areas else None
        if theirs is None:
            written.append(r)
        elif theirs.name != r.name:
            disagreements.append((theirs, r))

    description = _description(root)
    if written and areas:
        _write_mwg(description, written, width, height)
        _write_mp(description, written)
    _person_in_image(root, description, list(dict.fromkeys(r.name for r in written)))
    return disagreements


def _remove(element: etree._Element | None) -> None:
    parent = element.getparent() if element is not None else None
    if element is not None and parent is not None:
        parent.remove(element)


def _write_mwg(description: etree._Element, written: list[Region], width: int,
               height: int) -> None:
    """MWG face regions (marked as facepair's)."""
    regions_el = description.find(MWG_REGIONS, NS)
    if regions_el is None:
        regions_el = etree.SubElement(description, q(MWG_REGIONS),
                                      {q("rdf:parseType"): "Resource"},
                                      nsmap={"mwg-rs": NS["mwg-rs"]})
        etree.SubElement(regions_el, q(MWG_DIMENSIONS), {
            q(DIMENSIONS[0]): str(width), q(DIMENSIONS[1]): str(height),
            q(DIMENSIONS_UNIT): "pixel"}, nsmap={"stDim": NS["stDim"]})
    bag = _child(_child(regions_el, MWG_LIST), "rdf:Bag")
    for r in written:
        li = etree.SubElement(bag, q("rdf:li"))
        desc = etree.SubElement(li, q("rdf:Description"), {
            q(MWG_NAME): r.name, q(MWG_TYPE): "Face",
            q(PERSON): str(r.person if r.person is not None else 0)},
            nsmap={"facepair": NS["facepair"]})
        area = {q(k): f"{v:.6f}" for k, v in zip(AREA, (r.x, r.y, r.w, r.h), strict=True)}
        etree.SubElement(desc, q(MWG_AREA), {**area, q(AREA_UNIT): "normalized"},
                         nsmap={"stArea": NS["stArea"]})


def _write_mp(description: etree._Element, written: list[Region]) -> None:
    """The same faces as Microsoft People Tagging regions (marked as facepair's)."""
    info = description.find(MP_INFO, NS)
    if info is None:
        info = etree.SubElement(description, q(MP_INFO), {q("rdf:parseType"): "Resource"},
                                nsmap={"MP": NS["MP"]})
    bag = _child(_child(info, MP_REGIONS), "rdf:Bag")
    for r in written:
        li = etree.SubElement(bag, q("rdf:li"))
        etree.SubElement(li, q("rdf:Description"), {
            q(MP_NAME): r.name,
            q(MP_RECTANGLE): f"{r.x - r.w / 2:.6f}, {r.y - r.h / 2:.6f}, {r.w:.6f}, "
                             f"{r.h:.6f}",
            q(PERSON): str(r.person if r.person is not None else 0)},
            nsmap={"MPReg": NS["MPReg"], "facepair": NS["facepair"]})


def _description(root: etree._Element) -> etree._Element:
    """The rdf:Description our properties go into: the one that holds regions, else the
    first."""
    for description in root.iterfind(".//rdf:Description", NS):
        if description.find(MWG_REGIONS, NS) is not None:
            return description
    found = root.find(".//rdf:Description", NS)
    if found is None:
        rdf = root if root.tag == q("rdf:RDF") else root.find(".//rdf:RDF", NS)
        assert rdf is not None  # _parse checked
        found = etree.SubElement(rdf, q("rdf:Description"), {q("rdf:about"): ""})
    return found


def _person_in_image(root: etree._Element, description: etree._Element,
                     names: list[str]) -> None:
    """`Iptc4xmpExt:PersonInImage` lists `names` besides what other tools put there; the
    names facepair added are remembered (`facepair:PersonInImage`) so they can go again."""
    added: list[str] = []
    for mine in root.iterfind(f".//rdf:Description/{ADDED_PEOPLE}", NS):
        added += [li.text or "" for li in mine.iterfind(ITEMS, NS)]
        parent = mine.getparent()
        assert parent is not None
        parent.remove(mine)
    for bag in list(root.iterfind(f".//rdf:Description/{PERSON_IN_IMAGE}/rdf:Bag", NS)):
        emptied = False
        for li in list(bag):
            if li.text in added:
                added.remove(li.text)
                bag.remove(li)
                emptied = True
        if emptied and len(bag) == 0:  # a list facepair emptied goes (no empty property)
            _remove(bag.getparent())
    theirs = {(li.text or "").strip() for li in
              root.iterfind(f".//rdf:Description/{PERSON_IN_IMAGE}/{ITEMS}", NS)}
    new = [n for n in names if n not in theirs]
    if not new:
        return
    people = description.find(PERSON_IN_IMAGE, NS)
    if people is None:
        people = etree.SubElement(description, q(PERSON_IN_IMAGE),
                                  nsmap={"Iptc4xmpExt": NS["Iptc4xmpExt"]})
    bag = _child(people, "rdf:Bag")
    mine_bag = etree.SubElement(etree.SubElement(description, q(ADDED_PEOPLE),
                                                 nsmap={"facepair": NS["facepair"]}),
                                q("rdf:Bag"))
    for name in new:
        etree.SubElement(bag, q("rdf:li")).text = name
        etree.SubElement(mine_bag, q("rdf:li")).text = name


def _save(data: bytes, path: Path) -> None:
    """Write a sidecar whole or not at all (`index.files`)."""
    write_whole(path, data, path.with_name(path.name + ".tmp"))
