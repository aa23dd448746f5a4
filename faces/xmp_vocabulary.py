"""The XMP vocabulary of face regions, defined once for the reader of other tools' tags
(`faces.tags`) and the writer of facepair's own (`index.xmp`): the namespaces, the names of
the properties of MWG regions (`mwg-rs:`), Microsoft People Tagging (`MP:`) and IPTC's
`PersonInImage`, facepair's marks (`facepair:`), the parser both use, and how a property is
read from an element."""

from __future__ import annotations

from lxml import etree

# the XMP namespaces facepair reads and writes (`facepair:` marks its own regions and names)
NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "mwg-rs": "http://www.metadataworkinggroup.com/schemas/regions/",
    "stArea": "http://ns.adobe.com/xmp/sType/Area#",
    "stDim": "http://ns.adobe.com/xap/1.0/sType/Dimensions#",
    "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
    "MP": "http://ns.microsoft.com/photo/1.2/",
    "MPRI": "http://ns.microsoft.com/photo/1.2/t/RegionInfo#",
    "MPReg": "http://ns.microsoft.com/photo/1.2/t/Region#",
    "facepair": "https://facepair.invalid/ns/1.0/",
}
# no entities expanded, nothing fetched, no huge documents
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False,
                         remove_comments=False, remove_pis=False)

ITEMS = "rdf:Bag/rdf:li"  # the items of an unordered list

# MWG regions: mwg-rs:Regions holds the dimensions the regions were applied to and the list
MWG_REGIONS = "mwg-rs:Regions"
MWG_DIMENSIONS = "mwg-rs:AppliedToDimensions"
MWG_LIST = "mwg-rs:RegionList"
MWG_ITEMS = f"{MWG_LIST}/{ITEMS}"  # below mwg-rs:Regions
MWG_NAME = "mwg-rs:Name"
MWG_TYPE = "mwg-rs:Type"
MWG_AREA = "mwg-rs:Area"
# an area: a centre, a width and a height (normalised, or in pixels of the dimensions)
AREA = ("stArea:x", "stArea:y", "stArea:w", "stArea:h")
AREA_UNIT = "stArea:unit"
DIMENSIONS = ("stDim:w", "stDim:h")
DIMENSIONS_UNIT = "stDim:unit"

# Microsoft People Tagging: a name and a rectangle (normalised left, top, width, height)
MP_INFO = "MP:RegionInfo"
MP_REGIONS = "MPRI:Regions"
MP_ITEMS = f".//{MP_INFO}/{MP_REGIONS}/{ITEMS}"
MP_NAME = "MPReg:PersonDisplayName"
MP_RECTANGLE = "MPReg:Rectangle"

# the people in a photo, by name (IPTC)
PERSON_IN_IMAGE = "Iptc4xmpExt:PersonInImage"

# facepair's marks: a region facepair wrote carries its person's id; the names facepair added
# to PERSON_IN_IMAGE are listed again under its own name
PERSON = "facepair:Person"
ADDED_PEOPLE = "facepair:PersonInImage"


def q(name: str) -> str:
    """A prefixed name (`mwg-rs:Name`) in lxml's `{namespace}local` form."""
    prefix, local = name.split(":")
    return f"{{{NS[prefix]}}}{local}"


def value(element: etree._Element, name: str) -> str | None:
    """A property given as an attribute (as it is) or as a child element (its text,
    trimmed)."""
    if q(name) in element.attrib:
        return str(element.attrib[q(name)])
    child = element.find(name, NS)
    return None if child is None or child.text is None else child.text.strip()


def holder(element: etree._Element) -> etree._Element:
    """Where a structure's fields are: its rdf:Description, or the element itself
    (`rdf:parseType="Resource"`)."""
    description = element.find("rdf:Description", NS)
    return description if description is not None else element


def mp_rectangle(fields: etree._Element) -> tuple[float, float, float, float] | None:
    """A Microsoft region's rectangle (normalised left, top, width, height), or None."""
    try:
        left, top, w, h = (float(v) for v in (value(fields, MP_RECTANGLE) or "").split(","))
    except ValueError:
        return None
    return left, top, w, h
