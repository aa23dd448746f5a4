"""A photo library tagged in other tools, built from LFW DevTrain photos with known faces: for
the face-tag import tests and the learning example in the docs.

Each photo's face is found by facepair's detector on the original LFW photo, and its region
is drawn a quarter larger, as people draw them. The regions are written the way each tool
writes them:

- `digikam`: a `photo.jpg.xmp` sidecar with MWG regions and Microsoft regions (digiKam writes
  both), a rating and digiKam's tag list;
- `lightroom`: a `photo.xmp` sidecar, MWG regions as attributes, with keywords;
- `exiftool`: MWG regions embedded in the JPEG by exiftool;
- `windows`: Microsoft People Tagging regions only, embedded by exiftool;
- `rotated`: a photo stored turned a quarter anticlockwise with EXIF orientation 6, its
  region embedded relative to the photo as shown;
- `rotated-stored`: a photo stored turned a quarter clockwise with EXIF orientation 8, its
  region relative to the stored image (`AppliedToDimensions` gives the stored size).

Besides: a face whose two tags disagree (sidecar and embedded), a region on the background
with no face under it, and untagged photos of a stranger.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from bench.photos import lfw_dir

PEOPLE = ["Angelina_Jolie", "Bill_Gates", "Halle_Berry", "Carlos_Menem"]
STRANGER = "Fidel_Castro"  # in the photos, tagged by no one
LAYOUTS = ("digikam", "lightroom", "exiftool", "windows", "rotated", "rotated-stored")
ENLARGE = 1.25


@dataclass(frozen=True)
class Truth:
    """A tagged photo: who is in it, where (x1, y1, x2, y2 in the photo as shown), how it is
    tagged."""

    name: str
    box: tuple[float, float, float, float]
    layout: str


def display_name(person: str) -> str:
    return person.replace("_", " ")


def region_of(box, width: int, height: int) -> tuple[float, float, float, float]:
    """A face box as the normalised centre and size of a region a person would draw."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    w, h = (box[2] - box[0]) * ENLARGE, (box[3] - box[1]) * ENLARGE
    return cx / width, cy / height, w / width, h / height


def digikam_sidecar(name: str, region, width: int, height: int) -> str:
    """A `photo.jpg.xmp` as digiKam writes it: MWG and Microsoft regions for one face, a
    rating and its tag list."""
    x, y, w, h = region
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:digiKam="http://www.digikam.org/ns/1.0/"
    xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"
    xmlns:stDim="http://ns.adobe.com/xap/1.0/sType/Dimensions#"
    xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#"
    xmlns:MP="http://ns.microsoft.com/photo/1.2/"
    xmlns:MPRI="http://ns.microsoft.com/photo/1.2/t/RegionInfo#"
    xmlns:MPReg="http://ns.microsoft.com/photo/1.2/t/Region#"
   xmp:Rating="4">
   <digiKam:TagsList>
    <rdf:Seq>
     <rdf:li>People/{name}</rdf:li>
    </rdf:Seq>
   </digiKam:TagsList>
   <mwg-rs:Regions rdf:parseType="Resource">
    <mwg-rs:AppliedToDimensions stDim:w="{width}" stDim:h="{height}" stDim:unit="pixel"/>
    <mwg-rs:RegionList>
     <rdf:Bag>
      <rdf:li>
       <rdf:Description mwg-rs:Name="{name}" mwg-rs:Type="Face">
        <mwg-rs:Area stArea:x="{x:.6f}" stArea:y="{y:.6f}" stArea:w="{w:.6f}" stArea:h="{h:.6f}"
          stArea:unit="normalized"/>
       </rdf:Description>
      </rdf:li>
     </rdf:Bag>
    </mwg-rs:RegionList>
   </mwg-rs:Regions>
   <MP:RegionInfo rdf:parseType="Resource">
    <MPRI:Regions>
     <rdf:Bag>
      <rdf:li MPReg:PersonDisplayName="{name}"
        MPReg:Rectangle="{x - w / 2:.6f}, {y - h / 2:.6f}, {w:.6f}, {h:.6f}"/>
     </rdf:Bag>
    </MPRI:Regions>
   </MP:RegionInfo>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


def _lightroom(name: str, region, width: int, height: int) -> str:
    x, y, w, h = region
    return f"""<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 7.0-c000 1.000000">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:lr="http://ns.adobe.com/lightroom/1.0/"
    xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"
    xmlns:stDim="http://ns.adobe.com/xap/1.0/sType/Dimensions#"
    xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#">
   <dc:subject><rdf:Bag><rdf:li>{name}</rdf:li><rdf:li>holiday</rdf:li></rdf:Bag></dc:subject>
   <lr:hierarchicalSubject><rdf:Bag><rdf:li>People|{name}</rdf:li></rdf:Bag></lr:hierarchicalSubject>
   <mwg-rs:Regions rdf:parseType="Resource">
    <mwg-rs:AppliedToDimensions rdf:parseType="Resource">
     <stDim:w>{width}</stDim:w>
     <stDim:h>{height}</stDim:h>
     <stDim:unit>pixel</stDim:unit>
    </mwg-rs:AppliedToDimensions>
    <mwg-rs:RegionList>
     <rdf:Bag>
      <rdf:li rdf:parseType="Resource">
       <mwg-rs:Area stArea:h="{h:.5f}" stArea:w="{w:.5f}" stArea:x="{x:.5f}" stArea:y="{y:.5f}"
         stArea:unit="normalized"/>
       <mwg-rs:Type>Face</mwg-rs:Type>
       <mwg-rs:Name>{name}</mwg-rs:Name>
      </rdf:li>
     </rdf:Bag>
    </mwg-rs:RegionList>
   </mwg-rs:Regions>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


def exiftool(*args: str) -> None:
    subprocess.run(["exiftool", "-q", "-q", "-overwrite_original", *args], check=True,
                   capture_output=True, timeout=60)


def _mwg_arg(names_regions, width: int, height: int) -> str:
    items = ",".join(f"{{Area={{X={x:.6f},Y={y:.6f},W={w:.6f},H={h:.6f},Unit=normalized}},"
                     f"Name={n},Type=Face}}" for n, (x, y, w, h) in names_regions)
    return (f"-RegionInfo={{AppliedToDimensions={{W={width},H={height},Unit=pixel}},"
            f"RegionList=[{items}]}}")


def _mp_arg(names_regions) -> str:
    items = ",".join(f"{{PersonDisplayName={n},Rectangle={x - w / 2:.6f}|, {y - h / 2:.6f}|, "
                     f"{w:.6f}|, {h:.6f}}}" for n, (x, y, w, h) in names_regions)
    return f"-RegionInfoMP={{Regions=[{items}]}}"


def build(dst: Path, detector, per_person: int = 6) -> dict[str, list[Truth]]:
    """Write the library under `dst` and return {relative path: its tagged faces}. Each
    person's first `per_person` photos go round the layouts."""
    from faces.decode import decode
    from faces.detect import pick_face

    dst.mkdir(parents=True, exist_ok=True)
    truth: dict[str, list[Truth]] = {}
    for k, person in enumerate(PEOPLE):
        name = display_name(person)
        for i in range(1, per_person + 1):
            source = lfw_dir() / person / f"{person}_{i:04d}.jpg"
            face = pick_face(detector.detect(decode(source)), (250, 250))
            if face is None:
                continue
            layout = LAYOUTS[(i - 1 + k) % len(LAYOUTS)]
            rel = f"{person[:1].lower()}/{person}_{i:04d}.jpg"
            truth[rel] = [_write(dst / rel, source, name, face.box, layout)]
    # one face named differently in its sidecar and in the photo
    conflict = dst / "odd" / "conflict.jpg"
    box = _centre_box(lfw_dir() / PEOPLE[0] / f"{PEOPLE[0]}_0010.jpg", detector)
    _write(conflict, lfw_dir() / PEOPLE[0] / f"{PEOPLE[0]}_0010.jpg",
           display_name(PEOPLE[0]), box, "digikam")
    exiftool(_mwg_arg([(display_name(PEOPLE[1]), region_of(box, 250, 250))], 250, 250),
             str(conflict))
    # a region on the background: no face under it
    empty = dst / "odd" / "wall.jpg"
    shutil.copyfile(lfw_dir() / PEOPLE[1] / f"{PEOPLE[1]}_0010.jpg", empty)
    exiftool(_mwg_arg([("Nobody Here", (0.08, 0.1, 0.1, 0.12))], 250, 250), str(empty))
    for i in range(1, 4):  # untagged photos of a stranger
        stranger = dst / "untagged" / f"{STRANGER}_{i:04d}.jpg"
        stranger.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(lfw_dir() / STRANGER / f"{STRANGER}_{i:04d}.jpg", stranger)
    (dst.parent / f"{dst.name}-truth.json").write_text(json.dumps(
        {rel: [t.__dict__ for t in faces] for rel, faces in truth.items()}, indent=1))
    return truth


def _centre_box(path: Path, detector):
    from faces.decode import decode
    from faces.detect import pick_face

    face = pick_face(detector.detect(decode(path)), (250, 250))
    assert face is not None, path
    return face.box


def _write(path: Path, source: Path, name: str, box, layout: str) -> Truth:
    """One photo and its tag, as `layout` writes it; the truth in the photo as shown."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shown = tuple(float(v) for v in box)
    if layout in ("rotated", "rotated-stored"):
        upright = Image.open(source).convert("RGB").crop((0, 25, 250, 225))  # 250×200
        shown = (shown[0], shown[1] - 25, shown[2], shown[3] - 25)
        region = region_of(shown, 250, 200)
        if layout == "rotated":  # stored anticlockwise; orientation 6 turns it back
            upright.transpose(Image.Transpose.ROTATE_90).save(path, quality=92)
            exiftool("-Orientation#=6", _mwg_arg([(name, region)], 250, 200), str(path))
        else:  # stored clockwise; orientation 8; the region relative to the stored image
            upright.transpose(Image.Transpose.ROTATE_270).save(path, quality=92)
            x, y, w, h = region  # shown (x, y) lies at stored (y, 1 - x) for orientation 8
            exiftool("-Orientation#=8", _mwg_arg([(name, (1 - y, x, h, w))], 200, 250),
                     str(path))
        return Truth(name, shown, layout)  # type: ignore[arg-type]
    shutil.copyfile(source, path)
    region = region_of(shown, 250, 250)
    if layout == "digikam":
        path.with_name(path.name + ".xmp").write_text(digikam_sidecar(name, region, 250, 250))
    elif layout == "lightroom":
        path.with_suffix(".xmp").write_text(_lightroom(name, region, 250, 250))
    elif layout == "exiftool":
        exiftool(_mwg_arg([(name, region)], 250, 250), str(path))
    elif layout == "windows":
        exiftool(_mp_arg([(name, region)]), str(path))
    return Truth(name, shown, layout)  # type: ignore[arg-type]
