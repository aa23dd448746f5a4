"""XMP sidecars are the user's files: facepair changes only its own regions and names in them.

The property test writes, renames, merges and deletes people with hostile names over sidecars
full of other tools' metadata, and checks after every step that the sidecar parses, that every
foreign element, attribute and text is still there, and that facepair's part says what the
gallery says.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from index.errors import Refused
from index.names import checked_name
from index.xmp import NS, Region, SidecarError, q, read_regions, sidecar_path, sync_sidecar

WIDTH, HEIGHT = 4000, 3000


def _name_ok(name: str) -> bool:
    try:
        return checked_name(name) == name
    except Refused:
        return False


# names as a hostile user types them: markup, quotes, entities, right-to-left, emoji, joiners
names = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), min_size=1,
                max_size=40).filter(_name_ok) | st.sampled_from(
    ["<b>Ann</b>", "Bob & Co", 'Eve "the" ]]>', "Zoë", "👨\u200d👩\u200d👧", "&amp;",
     "Eve[/x]", "O'Brien",
     "\u0645\u062d\u0645\u062f\u200c\u0631\u0636\u0627"])  # a Persian name, with ZWNJ
boxes = st.tuples(st.floats(0.05, 0.8), st.floats(0.05, 0.8), st.floats(0.05, 0.2),
                  st.floats(0.05, 0.2))


def foreign_sidecar(regions: list[tuple[str, tuple]], keywords: list[str],
                    people: list[str]) -> bytes:
    """A sidecar as digiKam and Lightroom leave them: a rating, keywords, a colour label in a
    namespace facepair does not know, a comment, face regions and PersonInImage."""
    def esc(text: str) -> str:
        return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                .replace('"', "&quot;"))

    items = "".join(
        f'<rdf:li><rdf:Description mwg-rs:Name="{esc(n)}" mwg-rs:Type="Face">'
        f'<mwg-rs:Area stArea:x="{x}" stArea:y="{y}" stArea:w="{w}" stArea:h="{h}" '
        f'stArea:unit="normalized"/></rdf:Description></rdf:li>' for n, (x, y, w, h) in regions)
    region_block = (
        '<mwg-rs:Regions rdf:parseType="Resource"><mwg-rs:AppliedToDimensions stDim:w="4000" '
        f'stDim:h="3000" stDim:unit="pixel"/><mwg-rs:RegionList><rdf:Bag>{items}</rdf:Bag>'
        '</mwg-rs:RegionList></mwg-rs:Regions>') if regions else ""
    person_block = ("<Iptc4xmpExt:PersonInImage><rdf:Bag>"
                    + "".join(f"<rdf:li>{esc(p)}</rdf:li>" for p in people)
                    + "</rdf:Bag></Iptc4xmpExt:PersonInImage>") if people else ""
    keyword_block = ("<dc:subject><rdf:Bag>" + "".join(f"<rdf:li>{esc(k)}</rdf:li>"
                                                      for k in keywords)
                     + "</rdf:Bag></dc:subject>") if keywords else ""
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">\n'
        ' <!-- written by another tool -->\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:digiKam="http://www.digikam.org/ns/1.0/" xmlns:acme="urn:example:acme" '
        'xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/" '
        'xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#" '
        'xmlns:stDim="http://ns.adobe.com/xap/1.0/sType/Dimensions#" '
        'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        'xmp:Rating="4" digiKam:ColorLabel="3" acme:Secret="keep me">\n'
        f'   {keyword_block}{region_block}{person_block}'
        '<acme:Note xml:lang="de">Urlaub &amp; Strand</acme:Note>\n'
        '  </rdf:Description>\n'
        ' </rdf:RDF>\n'
        '</x:xmpmeta>\n'
        '<?xpacket end="w"?>\n').encode()


def foreign_view(data: bytes) -> bytes:
    """The document without facepair's part (its regions in both standards, its
    PersonInImage names and their record), empty region and person lists, and whitespace
    between elements: canonical XML."""
    root = etree.fromstring(data)
    for li in [*root.iterfind(".//mwg-rs:RegionList/rdf:Bag/rdf:li", NS),
               *root.iterfind(".//MPRI:Regions/rdf:Bag/rdf:li", NS)]:
        holder = li.find("rdf:Description", NS)
        if (holder if holder is not None else li).get(q("facepair:Person")) is not None:
            li.getparent().remove(li)
    added = []
    for mine in root.iterfind(".//facepair:PersonInImage", NS):
        added += [li.text for li in mine.iterfind("rdf:Bag/rdf:li", NS)]
        mine.getparent().remove(mine)
    for li in root.iterfind(".//Iptc4xmpExt:PersonInImage/rdf:Bag/rdf:li", NS):
        if li.text in added:
            added.remove(li.text)
            li.getparent().remove(li)
    for path in ("mwg-rs:Regions", "MP:RegionInfo", "Iptc4xmpExt:PersonInImage"):
        for el in root.iterfind(f".//{path}", NS):
            if el.find(".//rdf:li", NS) is None:
                el.getparent().remove(el)
    for el in root.iter():
        if el.text is not None and not el.text.strip():
            el.text = None
        if el.tail is not None and not el.tail.strip():
            el.tail = None
    return etree.tostring(copy.deepcopy(root), method="c14n")


def ours(path: Path) -> list[Region]:
    return [r for r in read_regions(path) if r.person is not None]


def person_in_image(path: Path) -> list[str]:
    root = etree.parse(str(path)).getroot()
    return [li.text or "" for li in
            root.iterfind(".//Iptc4xmpExt:PersonInImage/rdf:Bag/rdf:li", NS)]


steps = st.lists(st.one_of(
    st.tuples(st.just("rename"), st.integers(0, 3), names),
    st.tuples(st.just("merge"), st.integers(0, 3), st.integers(0, 3)),
    st.tuples(st.just("delete"), st.integers(0, 3), st.none())), max_size=6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(foreign=st.lists(st.tuples(names, boxes), max_size=4),
       keywords=st.lists(names, max_size=3), their_people=st.lists(names, max_size=3),
       people=st.lists(names, min_size=4, max_size=4, unique=True),
       faces=st.lists(st.tuples(st.integers(0, 3), boxes), min_size=1, max_size=5),
       edits=steps)
def test_every_foreign_byte_survives_tag_rename_merge_delete(foreign, keywords, their_people,
                                                             people, faces, edits) -> None:
    with tempfile.TemporaryDirectory() as folder:
        photo = Path(folder) / "IMG 0001 ü&.jpg"
        photo.write_bytes(b"not read")
        path = sidecar_path(photo)
        path.write_bytes(foreign_sidecar(foreign, keywords, their_people))
        expected_foreign = foreign_view(path.read_bytes())
        theirs = [Region(n, *b) for n, b in foreign]
        named = dict(enumerate(people, start=1))
        owner = [p + 1 for p, _ in faces]
        for step in [("tag", 0, None), *edits]:
            kind, a, b = step
            if kind == "rename" and a + 1 in named and b not in named.values():
                named[a + 1] = b
            elif kind == "merge" and a != b and a + 1 in named and b + 1 in named:
                owner = [a + 1 if o == b + 1 else o for o in owner]
                del named[b + 1]
            elif kind == "delete" and a + 1 in named:
                keep = [o != a + 1 for o in owner]
                faces = [f for f, k in zip(faces, keep, strict=True) if k]
                owner = [o for o, k in zip(owner, keep, strict=True) if k]
                del named[a + 1]
            regions = [Region(named[o], *box, person=o) for o, (_, box)
                       in zip(owner, faces, strict=True)]
            synced = sync_sidecar(photo, regions, WIDTH, HEIGHT, create=True)
            assert synced is not None
            data = path.read_bytes()
            ET.fromstring(data.split(b"?>", 1)[1].rsplit(b"<?xpacket", 1)[0])  # stdlib parses
            assert foreign_view(data) == expected_foreign
            # facepair's part: each face, unless another tool named that face
            want = [r for r in regions if not any(t.name and t.overlaps(r) for t in theirs)]
            got = ours(path)
            assert [(r.name, r.person) for r in got] == [(r.name, r.person) for r in want]
            assert {(t.name, r.name) for t, r in synced.disagreements} == {
                (t.name, r.name) for r in regions for t in theirs
                if t.name and t.name != r.name and t.overlaps(r)
                and t is next(f for f in theirs if f.name and f.overlaps(r))}
            assert sorted(person_in_image(path)) == sorted(
                their_people + [n for n in dict.fromkeys(r.name for r in want)
                                if n not in their_people])


@pytest.mark.parametrize("content", [
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf'
    b'-syntax-ns#"><rdf:Description xmp:Rating="5"',  # cut off
    b"\x00\xff\xfe garbage",
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
    b"<x>&b;</x>",  # entities, no RDF
])
def test_a_sidecar_that_does_not_parse_is_left_as_it_is(tmp_path: Path, content: bytes) -> None:
    photo = tmp_path / "a.jpg"
    photo.write_bytes(b"x")
    sidecar_path(photo).write_bytes(content)
    for _ in range(3):  # written three times: never moved, never overwritten
        with pytest.raises(SidecarError, match="leaves it as it is"):
            sync_sidecar(photo, [Region("Ann", 0.5, 0.5, 0.2, 0.2, person=1)], WIDTH, HEIGHT)
    assert sidecar_path(photo).read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg", "a.jpg.xmp"]


def test_a_sidecar_that_is_a_link_is_not_written_through(tmp_path: Path) -> None:
    photo, target = tmp_path / "a.jpg", tmp_path / "elsewhere.xmp"
    photo.write_bytes(b"x")
    target.write_bytes(foreign_sidecar([], ["kept"], []))
    before = target.read_bytes()
    sidecar_path(photo).symlink_to(target)
    with pytest.raises(SidecarError, match="symbolic link"):
        sync_sidecar(photo, [Region("Ann", 0.5, 0.5, 0.2, 0.2, person=1)], WIDTH, HEIGHT)
    assert target.read_bytes() == before and sidecar_path(photo).is_symlink()


def test_a_full_disk_leaves_the_old_sidecar_whole(tmp_path: Path) -> None:
    """RLIMIT_FSIZE stands in for a full disk: the write fails, the old sidecar is intact and
    no temporary file is left."""
    photo = tmp_path / "a.jpg"
    photo.write_bytes(b"x")
    old = foreign_sidecar([("Zoë", (0.2, 0.2, 0.1, 0.1))], ["beach"] * 50, ["Zoë"])
    sidecar_path(photo).write_bytes(old)
    script = (
        "import resource, signal, sys; from pathlib import Path\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({len(old) // 2}, {len(old) // 2}))\n"
        "from index.xmp import Region, sync_sidecar\n"
        "try:\n"
        f"    sync_sidecar(Path({str(photo)!r}), [Region('A' * 500, .7, .7, .1, .1, person=1)],"
        " 4000, 3000)\n"
        "except OSError as exc:\n"
        "    print('refused', exc.errno); sys.exit(0)\n"
        "sys.exit(1)\n")
    done = subprocess.run([sys.executable, "-c", script],
                          capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert done.returncode == 0 and "refused 27" in done.stdout, done.stderr  # EFBIG
    assert sidecar_path(photo).read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg", "a.jpg.xmp"]


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="needs exiftool (apt: "
                    "libimage-exiftool-perl; `make system-deps` installs it)")
def test_exiftool_reads_what_is_written_over_another_tools_sidecar(tmp_path: Path) -> None:
    import json

    photo = tmp_path / "a.jpg"
    photo.write_bytes(b"x")
    sidecar_path(photo).write_bytes(foreign_sidecar(
        [("Grandma", (0.3, 0.3, 0.1, 0.1))], ["beach"], ["Grandma"]))
    synced = sync_sidecar(photo, [Region("Eve[/x] <b>", 0.7, 0.7, 0.1, 0.1, person=7),
                                  Region("Grandpa", 0.3, 0.3, 0.1, 0.1, person=8)],
                          WIDTH, HEIGHT)
    assert synced is not None and synced.changed
    assert [(t.name, r.name) for t, r in synced.disagreements] == [("Grandma", "Grandpa")]
    (meta,) = json.loads(subprocess.run(
        ["exiftool", "-j", "-RegionName", "-PersonInImage", "-Rating", "-Subject",
         str(sidecar_path(photo))], capture_output=True, text=True, check=True).stdout)
    assert meta["Rating"] == 4 and meta["Subject"] == "beach"
    assert meta["RegionName"] == ["Grandma", "Eve[/x] <b>"]
    assert meta["PersonInImage"] == ["Grandma", "Eve[/x] <b>"]
