"""Collections: galleries of their own on one server. The store keeps each in tables of its
own (a SQLite file, a PostgreSQL schema) and the default one's store keeps the registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from faces.errors import FacepairError
from index.store import Store, collection_name


def test_a_collections_tables_are_its_own_on_both_backends(store_location: str) -> None:
    """Each collection has its own people and ids; the default one keeps the registry and the
    keys; a deleted collection's tables and keys are gone, and made anew it starts empty."""
    registry = Store(store_location)
    registry.collections.add("smith-family")
    assert [c.name for c in registry.collections.all()] == ["smith_family"]
    smiths = Store(store_location, "smith-family")
    assert smiths.people.add("Ann") == 1 and registry.people.add("Bob") == 1
    assert [p.name for p in smiths.people.all()] == ["Ann"]
    assert [p.name for p in registry.people.all()] == ["Bob"]
    with smiths.db.reading() as conn:  # raw SQL of the store sees the collection's tables
        assert smiths.db.ids_given(conn)["people"] == 1
    key = registry.keys.add("phone", "read", "a" * 64, collection="smith_family")
    assert registry.keys.grant_of("a" * 64) == (key, "read", "smith_family")
    assert smiths.keys.all() == []
    smiths.close()
    with pytest.raises(FacepairError) as taken:
        registry.collections.add("smith_family")
    assert taken.value.code == "conflict"
    assert registry.collections.remove("smith_family") == 1  # its key revoked with it
    assert registry.keys.all() == [] and registry.collections.all() == []
    with pytest.raises(FacepairError) as gone:
        registry.collections.get("smith_family")
    assert gone.value.code == "no_collection"
    registry.collections.add("smith_family")
    again = Store(store_location, "smith_family")
    assert again.people.all() == [] and again.meta.counts()["people"] == 0
    again.close()
    assert [p.name for p in registry.people.all()] == ["Bob"]
    registry.close()


def test_collection_names_follow_the_rules(tmp_path: Path) -> None:
    assert collection_name("my-family") == "my_family" == collection_name("my_family")
    for bad in ("", "A", "-x", "x y", "x" * 41, "../x", "é", "x;drop"):
        with pytest.raises(FacepairError) as refused:
            collection_name(bad)
        assert refused.value.code == "invalid_collection"
    registry = Store(tmp_path / "gallery.sqlite3")
    with pytest.raises(FacepairError) as kept:
        registry.collections.remove("default")
    assert kept.value.code == "default_collection"
    registry.collections.add("x1")
    Store(tmp_path / "gallery.sqlite3", "x1").close()
    assert (tmp_path / "collections" / "x1" / "gallery.sqlite3").is_file()
    registry.collections.remove("x1")
    assert not (tmp_path / "collections" / "x1").exists()
    registry.close()
