"""XMP sidecars (`photo.jpg.xmp`) that photo managers read (digiKam, Lightroom, darktable):
MWG face regions (`mwg-rs:Regions`: a name and a normalised centre/size area per face) and
`Iptc4xmpExt:PersonInImage`. An existing sidecar is merged: its other properties stay, and so
do its regions except those of the names we write or at the places of our faces.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "mwg-rs": "http://www.metadataworkinggroup.com/schemas/regions/",
    "stArea": "http://ns.adobe.com/xmp/sType/Area#",
    "stDim": "http://ns.adobe.com/xap/1.0/sType/Dimensions#",
    "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
}
for prefix, uri in {"xmp": "http://ns.adobe.com/xap/1.0/", "dc": "http://purl.org/dc/elements/1.1/",
                    "lr": "http://ns.adobe.com/lightroom/1.0/",
                    "digiKam": "http://www.digikam.org/ns/1.0/"}.items():
    ET.register_namespace(prefix, uri)
for prefix, uri in NS.items():
    ET.register_namespace(prefix, uri)


def q(name: str) -> str:
    prefix, local = name.split(":")
    return f"{{{NS[prefix]}}}{local}"


@dataclass(frozen=True)
class Region:
    name: str
    x: float  # centre, normalised to the photo's width
    y: float
    w: float
    h: float

    @classmethod
    def from_box(cls, name: str, box: Sequence[float], width: int, height: int) -> Region:
        x1, y1, x2, y2 = (max(0.0, box[0]), max(0.0, box[1]), min(width, box[2]),
                          min(height, box[3]))
        return cls(name, (x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width,
                   (y2 - y1) / height)

    def overlaps(self, other: Region) -> bool:
        ix = max(0.0, min(self.x + self.w / 2, other.x + other.w / 2)
                 - max(self.x - self.w / 2, other.x - other.w / 2))
        iy = max(0.0, min(self.y + self.h / 2, other.y + other.h / 2)
                 - max(self.y - self.h / 2, other.y - other.h / 2))
        inter = ix * iy
        union = self.w * self.h + other.w * other.h - inter
        return union > 0 and inter / union > 0.5


def sidecar_path(photo: Path) -> Path:
    return photo.with_name(photo.name + ".xmp")


def _value(element: ET.Element, name: str) -> str | None:
    """A property given as an attribute or as a child element."""
    if q(name) in element.attrib:
        return element.attrib[q(name)]
    child = element.find(name, NS)
    return None if child is None or child.text is None else child.text.strip()


def _read_regions(description: ET.Element) -> list[tuple[Region | None, ET.Element]]:
    found = []
    for li in description.findall("mwg-rs:Regions/mwg-rs:RegionList/rdf:Bag/rdf:li", NS):
        desc = li.find("rdf:Description", NS)
        holder = desc if desc is not None else li
        area = holder.find("mwg-rs:Area", NS)
        region = None
        try:
            if area is not None:
                region = Region(_value(holder, "mwg-rs:Name") or "",
                                *(float(_value(area, f"stArea:{k}") or "nan")
                                  for k in ("x", "y", "w", "h")))
        except ValueError:
            region = None
        found.append((region, holder))
    return found


def _empty() -> tuple[ET.ElementTree, ET.Element]:
    root = ET.Element(q("x:xmpmeta"))
    rdf = ET.SubElement(root, q("rdf:RDF"))
    description = ET.SubElement(rdf, q("rdf:Description"), {q("rdf:about"): ""})
    return ET.ElementTree(root), description


def write_sidecar(photo: Path, regions: Sequence[Region], width: int, height: int) -> Path:
    """Write or merge `photo`'s sidecar with these named face regions. Returns its path."""
    path = sidecar_path(photo)
    tree, description = _empty()
    kept: list[ET.Element] = []
    names: list[str] = []
    if path.exists():
        try:
            tree = ET.parse(path)
            found = tree.getroot().find(".//rdf:RDF/rdf:Description", NS)
            if found is None:
                found = tree.getroot().find(".//rdf:Description", NS)
            if found is None:
                raise ET.ParseError("no rdf:Description")
            description = found
        except ET.ParseError:
            path.replace(path.with_name(path.name + ".bak"))  # keep what we could not read
            tree, description = _empty()
        ours = {r.name for r in regions}
        for region, holder in _read_regions(description):
            if region is not None and (region.name in ours
                                       or any(region.overlaps(r) for r in regions)):
                continue
            kept.append(holder)
        names = [li.text or "" for li in description.findall(
            "Iptc4xmpExt:PersonInImage/rdf:Bag/rdf:li", NS)]
        for old in description.findall("mwg-rs:Regions", NS) + description.findall(
                "Iptc4xmpExt:PersonInImage", NS):
            description.remove(old)

    regions_el = ET.SubElement(description, q("mwg-rs:Regions"), {q("rdf:parseType"): "Resource"})
    ET.SubElement(regions_el, q("mwg-rs:AppliedToDimensions"),
                  {q("stDim:w"): str(width), q("stDim:h"): str(height), q("stDim:unit"): "pixel"})
    bag = ET.SubElement(ET.SubElement(regions_el, q("mwg-rs:RegionList")), q("rdf:Bag"))
    for holder in kept:
        li = ET.SubElement(bag, q("rdf:li"))
        if holder.tag == q("rdf:li"):
            li.attrib.update(holder.attrib)
            li.extend(list(holder))
        else:
            li.append(holder)
    for r in regions:
        li = ET.SubElement(bag, q("rdf:li"))
        desc = ET.SubElement(li, q("rdf:Description"),
                             {q("mwg-rs:Name"): r.name, q("mwg-rs:Type"): "Face"})
        ET.SubElement(desc, q("mwg-rs:Area"), {
            q("stArea:x"): f"{r.x:.6f}", q("stArea:y"): f"{r.y:.6f}",
            q("stArea:w"): f"{r.w:.6f}", q("stArea:h"): f"{r.h:.6f}",
            q("stArea:unit"): "normalized"})
    people = list(dict.fromkeys([*names, *(r.name for r in regions)]))
    if people:
        person_bag = ET.SubElement(ET.SubElement(description, q("Iptc4xmpExt:PersonInImage")),
                                   q("rdf:Bag"))
        for name in people:
            ET.SubElement(person_bag, q("rdf:li")).text = name
    ET.indent(tree, space=" ")
    _save(tree, path)
    return path


def _save(tree: ET.ElementTree, path: Path) -> None:
    """Write a sidecar whole or not at all: a temporary file of our own (created anew, never
    through a link: whatever lies at its name, a leftover or a planted symlink, is removed,
    not written through), flushed to disk, then renamed over the sidecar."""
    tmp = path.with_name(path.name + ".tmp")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>\n')
        tree.write(f, encoding="utf-8", xml_declaration=False)
        f.write(b'\n<?xpacket end="w"?>\n')
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def remove_person(photo: Path, name: str) -> bool:
    """Drop a person's regions and PersonInImage entry from a photo's sidecar (after they were
    deleted from facepair). Returns whether the sidecar changed."""
    path = sidecar_path(photo)
    try:
        tree = ET.parse(path)
    except (OSError, ET.ParseError):
        return False
    changed = False
    for description in tree.getroot().iter(q("rdf:Description")):
        for bag in description.findall("mwg-rs:Regions/mwg-rs:RegionList/rdf:Bag", NS):
            for li in list(bag):
                desc = li.find("rdf:Description", NS)
                holder = desc if desc is not None else li
                if _value(holder, "mwg-rs:Name") == name:
                    bag.remove(li)
                    changed = True
        for bag in description.findall("Iptc4xmpExt:PersonInImage/rdf:Bag", NS):
            for li in list(bag):
                if (li.text or "").strip() == name:
                    bag.remove(li)
                    changed = True
    if changed:
        _save(tree, path)
    return changed
