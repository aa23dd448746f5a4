"""The gallery's settings: the face pipeline's (`faces.settings`) and what the gallery, its
search and its album pipeline read. Every field can be set by a `FACEPAIR_<NAME>` variable."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from faces.settings import FaceSettings

ROOT_NAME_FORBIDS = ":/\\,="  # a root's name holds none of these


def parse_roots(text: str) -> dict[str, Path]:
    """`FACEPAIR_ROOTS`: `name=folder` pairs, comma-separated (`family=/mnt/photos,
    work=/srv/work`); each folder absolute (or from `~`), each name given once."""
    found: dict[str, Path] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, folder = (s.strip() for s in item.partition("="))
        if not sep or not name or not folder:
            raise ValueError(f"{item!r}: a root is name=folder")
        if any(c in ROOT_NAME_FORBIDS for c in name):
            raise ValueError(f"{name!r}: a root's name holds none of {ROOT_NAME_FORBIDS!r}")
        path = Path(folder).expanduser()
        if not path.is_absolute():
            raise ValueError(f"{folder!r}: a root's folder is an absolute path")
        if name in found:
            raise ValueError(f"{name!r}: a root given twice")
        found[name] = path
    return found


class IndexSettings(FaceSettings):
    """What the face pipeline and the gallery read."""

    home: Path = Field(Path("var"), description="Where facepair keeps its data.")
    store: str = Field(
        "", description="The gallery's database: empty for FACEPAIR_HOME/gallery.sqlite3 "
        "(SQLite), another file's path, or postgresql://user@host/database (shared by "
        "several hosts).",
    )

    collection: str = Field(
        "default", pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$",
        description="The collection the CLI works in (`--collection`): a gallery of its own "
        "beside the default one, made with `facepair collections create`.",
    )

    def collection_home(self, home: Path | None = None) -> Path:
        """Where the collection's own files are (its search index): `home` (default: the
        settings') for the default collection, `collections/NAME` in it for another."""
        base = Path(home or self.home)
        name = self.collection.replace("-", "_")
        return base if name == "default" else base / "collections" / name

    def store_location(self, home: Path | None = None) -> str | Path:
        """Where the store is: `store`, or `gallery.sqlite3` in `home` (default: the
        settings')."""
        return self.store or Path(home or self.home) / "gallery.sqlite3"

    # gallery
    far: float = Field(
        1e-3, gt=0.0, lt=1.0,
        description="verify (one to one): the model card's calibrated threshold at this "
        "false-accept rate.",
    )
    fpir: float = Field(
        0.01, gt=0.0, lt=1.0,
        description="identify (one to many): the share of strangers that may be named as "
        "someone; the threshold is the one this share of the enrolled faces reach as "
        "strangers to each other, once there are enough of them, never looser than the "
        "card's at a pair rate of fpir / enrolled faces (index.calibration); "
        "`calibrate --apply` sets one by hand.",
    )
    top_k: int = Field(5, ge=1, le=100, description="Candidates returned per face.")
    lookalike_margin: float = Field(
        0.05, ge=0.0, lt=1.0,
        description="identify and tag: a face whose best person and second-best look alike "
        "(a face of one reaches the identify threshold against a face of the other) is named "
        "only when the best leads by this much cosine; otherwise it is left unknown with both "
        "as candidates (`ambiguous: look-alike of …`). 0: no margin.",
    )
    job_lease: float = Field(
        30.0, ge=1.0, description="Seconds a process holds an album job unless it renews the "
        "hold (it does while the job runs); then any process may take the job over.",
    )
    enroll_min_face: int = Field(40, ge=8, description="Smallest face, in pixels, to enroll.")
    quality_floor: float = Field(
        0.79, ge=0.0, le=1.0,
        description="A face whose quality (faces.quality: size, detail, pose and detector "
        "score, in [0, 1]) is under this is answered as unrecognisable: named as no one and "
        "no stranger either, never enrolled, suggested or grouped with unknown faces; 0: none "
        "is. 0.79 sets aside 2 % of the faces of plain LFW DevTrain photos (bench.quality).",
    )
    ann_min_faces: int = Field(
        200_000, ge=1, description="From this many faces on, search an approximate index (an "
        "HNSW graph; IVF from ivf_min_faces on).",
    )
    ivf_min_faces: int = Field(
        2_000_000, ge=1, description="From this many faces on, search an IVF index (less "
        "memory per face than an HNSW graph, and quicker to build).",
    )
    ann_ef_search: int = Field(
        256, ge=1, description="HNSW candidates kept per graph and search (more: slower, "
        "closer to exact).",
    )
    ann_nprobe: int = Field(
        0, ge=0, description="IVF lists searched per query; 0 = a quarter of the lists."
    )

    # albums
    album_workers: int = Field(2, ge=1, description="Worker processes of an album job.")
    ray_address: str = Field(
        "", description="A Ray cluster album jobs may run on (`--ray`, or the API's "
        "`ray: true`): `auto` (the cluster started on this host with `ray start`), "
        "`host:port`, `ray://host:port`, or `local` (one of this process's own). Empty: none.")
    ray_cores: int = Field(
        1, ge=1, description="CPU cores per analysing actor on a Ray node without GPUs (one "
        "actor per GPU where there are GPUs).")
    ray_keep: float = Field(
        600.0, ge=0, description="Seconds the analysing actors stay on the Ray cluster after "
        "their last photo, models loaded, so that the next job starts at once; 0: they "
        "leave with their job.")
    context_band: float = Field(
        0.04, ge=0.0, lt=1.0, description="tag: a face that scores at most this far (cosine) "
        "under the identify threshold for a person is named them when the library's named "
        "faces confidently like it name that person and no one else (index.album.context); "
        "0: each photo is named alone.")
    context_link_far: float = Field(
        1e-3, gt=0.0, lt=1.0, description="tag: a face is confidently like one of the n faces "
        "named as a person from the model card's one-to-one threshold at this false-accept "
        "rate / n.")
    context_support: int = Field(
        3, ge=1, description="tag: the named faces it takes to name a face from the library's "
        "context.")
    context_margin: float = Field(
        0.01, ge=0.0, lt=1.0, description="tag: a face the gallery named supports another in "
        "the library's context only when it scored at least this far (cosine) over the "
        "identify threshold (a face the user named always does).")
    video_rate: float = Field(
        2.0, gt=0.0, le=30.0, description="tag: frames a second sampled from a video (MP4, "
        "MOV, M4V) for its faces; 2 finds every face shown for a second or more at half the "
        "time of 4 (docs/albums.md, Videos).")
    video_max_seconds: float = Field(
        3600.0, gt=0.0, description="tag: a video longer than this many seconds is refused "
        "(from its container's duration, undecoded) as a problem of the run.")
    roots: str = Field(
        "", description="Where photo libraries (roots) live on this host: name=folder pairs, "
        "comma-separated, e.g. family=/mnt/photos,work=/srv/work. Album photos are known by "
        "their root's name and their path inside it, so hosts that mount one library at "
        "different places agree on them; a folder tagged outside every root becomes a root "
        "of its own, remembered in FACEPAIR_HOME/roots.json.",
    )

    @field_validator("roots")
    @classmethod
    def _roots_parse(cls, value: str) -> str:
        parse_roots(value)
        return value

    def root_folders(self) -> dict[str, Path]:
        """The roots this host's settings place (`roots`): name → folder."""
        return parse_roots(self.roots)


# the documented defaults, not read from the environment: what the gallery uses when its
# caller passes no settings (the entry points pass theirs)
DEFAULTS = IndexSettings.model_construct()
