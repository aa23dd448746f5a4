"""The code's shape: every module imports on its own (no import cycles that only the right
import order hides), the layers depend one way (service → index → faces ← training, and the
benchmarks above them all), only the store runs SQL, no function runs over 80 lines and no
class has over 40 methods. The benchmarks (`bench/`) are held to the same rules as the
packages."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("faces", "index", "service", "training")
CODE = (*PACKAGES, "bench")  # the packages and the benchmarks, which may import any of them
ANCHOR_SCRIPTS = ROOT / "bench" / "anchor_scripts"  # run by the anchor's venv, with dlib
MIGRATIONS = ROOT / "index" / "store" / "migrations"  # scripts Alembic loads, not modules


def sources(packages: tuple[str, ...] = CODE) -> list[Path]:
    return sorted(p for package in packages for p in (ROOT / package).rglob("*.py"))


def modules() -> list[str]:
    return [".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            for p in sources() if ANCHOR_SCRIPTS not in p.parents
            and MIGRATIONS not in p.parents]


def in_the_store(path: Path) -> bool:
    """index/store.py, or the store's own modules (index/store*)."""
    rel = path.relative_to(ROOT).parts
    return rel[0] == "index" and rel[1].startswith("store")


def test_every_module_imports_on_its_own() -> None:
    """Each module in a fresh process of its own, forked from one that holds only
    third-party libraries (`tests.import_alone`)."""
    import multiprocessing as mp

    from tests import import_alone

    names = modules()
    context = mp.get_context("forkserver")
    context.set_forkserver_preload(["tests.import_alone", *import_alone.THIRD_PARTY])
    with context.Pool(2, maxtasksperchild=1) as pool:
        why = pool.map(import_alone.import_alone, names, chunksize=1)
    failed = {name: reason for name, reason in zip(names, why, strict=True) if reason}
    assert not failed, failed


def test_a_module_that_only_imports_in_the_right_order_is_caught(tmp_path: Path) -> None:
    """The check above fails a module whose import needs another of ours imported first."""
    import multiprocessing as mp

    from tests import import_alone

    context = mp.get_context("forkserver")
    with context.Pool(1, maxtasksperchild=1) as pool:
        why = pool.map(import_alone.import_alone, ["tests.import_alone_cycle_a"])
    assert why[0].startswith("ImportError"), why


def test_layers_depend_one_way() -> None:
    """faces imports none of the others; index imports only faces; training never imports
    index or service; nothing imports service but service (and the benchmarks); nothing
    imports the benchmarks but themselves."""
    allowed = {"faces": {"faces"}, "index": {"faces", "index"},
               "training": {"faces", "training"},
               "service": {"faces", "index", "service", "training"},
               "bench": set(CODE)}
    wrong = []
    for package in CODE:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom)
                         and node.level == 0 else [])
                for name in names:
                    top = name.split(".")[0]
                    if top in CODE and top not in allowed[package]:
                        wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not wrong, wrong


def test_every_error_code_is_in_the_docs() -> None:
    """docs/errors.md lists every code the code can answer with, and no other."""
    found: set[str] = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text()
            found |= set(re.findall(r'^\s+code = "([a-z_]+)"', text, re.M))
            found |= set(re.findall(r'Refused\(\s*"([a-z_]+)"', text))
            found |= set(re.findall(r'(?:ApiError|problem)\(\s*\d+,\s*"([a-z_]+)"', text))
            found |= set(re.findall(r'\b\d{3}: "([a-z_]+)"', text))  # {404: "not_found", …}
    found -= {"facepair_error", "http_error"}  # the base class; an unlisted HTTP error
    listed = set(re.findall(r"^\| `([a-z_]+)` \|", (ROOT / "docs" / "errors.md").read_text(),
                            re.M))
    assert found == listed, {"not in the docs": found - listed, "not in the code": listed - found}


# SQL as it is written in a string: a statement's opening words
SQL = re.compile(r"\b(SELECT\s.*\bFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET"
                 r"|DELETE\s+FROM|(CREATE|DROP)\s+(UNIQUE\s+)?(TABLE|INDEX|TRIGGER|VIEW)"
                 r"|ALTER\s+TABLE|PRAGMA\s+\w+)\b", re.S)


DRIVERS = {"sqlite3", "sqlalchemy", "alembic", "psycopg", "psycopg2"}


def reaching_past_the_store(tree: ast.AST) -> set[str]:
    """What a module does that only the store may do: import a database driver or layer
    (sqlite3, SQLAlchemy, Alembic, psycopg), run a statement (the call: `conn.execute`) or
    hold SQL (the statement's first 40 characters)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""])
            found |= {n.split(".")[0] for n in names if n.split(".")[0] in DRIVERS}
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr in ("execute", "executemany", "executescript")):
            found.add(ast.unparse(node.func))
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and SQL.search(node.value)):
            found.add(" ".join(node.value.split())[:40])
    return found


def test_the_store_owns_all_sql() -> None:
    """Only the store (index/store*) speaks to the database: no other module imports sqlite3,
    runs a statement or holds SQL; everything else asks the store through named methods."""
    found = {(str(path.relative_to(ROOT)), what) for path in sources()
             if not in_the_store(path)
             for what in reaching_past_the_store(ast.parse(path.read_text()))}
    assert not found, sorted(found)


def private_names(tree: ast.AST) -> set[str]:
    """`obj._name` on anything but `self` or `cls`, and `from module import _name`."""
    found = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
            found.add(ast.unparse(node))
        elif isinstance(node, ast.ImportFrom):
            found |= {f"{node.module}.{a.name}" for a in node.names if a.name.startswith("_")}
    return found


def test_the_benchmarks_use_public_names() -> None:
    """The benchmarks measure facepair through what it offers, not through its private
    names."""
    found = {(str(path.relative_to(ROOT)), what) for path in sources(("bench",))
             for what in private_names(ast.parse(path.read_text()))}
    assert not found, sorted(found)


def test_no_function_runs_over_80_lines() -> None:
    long = [f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"
            for path in sources() for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and (node.end_lineno or node.lineno) - node.lineno + 1 > 80]
    assert not long, long


def test_no_class_has_over_40_methods() -> None:
    """A class of more methods does several jobs: split it by job (as the gallery is, into
    `index.matching`, `index.thresholds`, `index.enrollment`, …)."""
    wide = [f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({count} methods)"
            for path in sources() for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.ClassDef)
            and (count := sum(isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
                              for item in node.body)) > 40]
    assert not wide, wide


def test_faces_holds_no_service_or_storage_concern() -> None:
    """`faces` is the face pipeline only: its settings are what decoding, detecting and
    embedding read (the service's, the gallery's and the albums' live in `service.settings`
    and `index.settings`), the store's errors are `index.errors`', and no `faces` module
    imports a database, a web server, a CLI framework or the layers above it."""
    import re

    from faces.settings import FaceSettings

    elsewhere = re.compile(
        r"host|port|auth|home|far|fpir|top_k|protect_docs|max_upload_bytes|request_timeout"
        r"|max_waiting|inference_threads|(ann|album|batch|identify|enroll)_\w+")
    wrong = [f"faces.settings.FaceSettings.{name}" for name in FaceSettings.model_fields
             if elsewhere.fullmatch(name)]

    storage_errors = {node.name for node in ast.walk(ast.parse(
        (ROOT / "index" / "errors.py").read_text())) if isinstance(node, ast.ClassDef)}
    assert {"StorageFull", "StoreBusy", "Conflict"} <= storage_errors
    forbidden = {"sqlite3", "sqlalchemy", "alembic", "psycopg", "psycopg2", "faiss", "fastapi",
                 "starlette", "uvicorn", "httpx", "typer", "rich", "prometheus_client",
                 "index", "service"}
    for path in (ROOT / "faces").rglob("*.py"):
        where = path.relative_to(ROOT)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and node.name in storage_errors:
                wrong.append(f"{where} defines {node.name}")
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom)
                     and node.level == 0 else [])
            wrong += [f"{where} imports {name}" for name in names
                      if name.split(".")[0] in forbidden]
    assert not wrong, wrong


def test_boxes_and_xmp_names_are_defined_once() -> None:
    """One `iou` (`faces/boxes.py`), and each XMP namespace written in one module
    (`faces/xmp_vocabulary.py`), which the reader and the writer of face tags import."""
    from faces.xmp_vocabulary import NS

    vocabulary, boxes = ROOT / "faces" / "xmp_vocabulary.py", ROOT / "faces" / "boxes.py"
    wrong = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if (isinstance(node, ast.FunctionDef) and node.name == "iou"
                        and path != boxes):
                    wrong.append(f"{path.relative_to(ROOT)}:{node.lineno} defines iou")
                if (isinstance(node, ast.Constant) and isinstance(node.value, str | bytes)
                        and path != vocabulary):
                    text = (node.value.decode("latin-1") if isinstance(node.value, bytes)
                            else node.value)
                    wrong += [f"{path.relative_to(ROOT)}:{node.lineno} writes {uri}"
                              for uri in NS.values() if uri in text]
    assert not wrong, wrong
