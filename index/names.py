"""People's names as the store keeps them: one rule for the CLI and the API."""

from __future__ import annotations

import unicodedata

from index.errors import Refused

NAME_LIMIT = 200  # characters
# joiners that Persian, Indic and emoji names need; every other format character is refused
JOINERS = {"\u200c", "\u200d"}


def checked_name(name: str) -> str:
    """A person's name as stored: NFC, trimmed, at most NAME_LIMIT characters, and none that
    is a control, format (zero-width joiners aside), surrogate or unassigned character: such
    characters cannot go into the XMP sidecars that carry names, or hide what a name shows.
    One rule for the CLI and the API (422, a code naming the problem)."""
    name = unicodedata.normalize("NFC", name).strip()
    if not name:
        raise Refused("empty_name", "a person needs a non-empty name")
    if len(name) > NAME_LIMIT:
        raise Refused("name_too_long", f"a name holds at most {NAME_LIMIT} characters "
                      f"(this one {len(name)})")
    bad = [c for c in name if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Cn")
           and c not in JOINERS]
    if bad:
        raise Refused("invalid_name", "a name cannot hold control, format or unassigned "
                      f"characters ({', '.join(f'U+{ord(c):04X}' for c in sorted(set(bad)))})")
    return name
