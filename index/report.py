"""One self-contained HTML page of what album tagging found: faces grouped by person, then the
clusters of unknown faces, each face a small thumbnail (inline JPEG) with its photo's name."""

from __future__ import annotations

import base64
import html
import io
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from faces.decode import decode
from index.gallery import Gallery

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
h1{font-size:1.5rem} h2{font-size:1.15rem;margin-top:2rem}
.faces{display:flex;flex-wrap:wrap;gap:.5rem}
figure{margin:0;width:104px;font-size:.7rem;text-align:center;overflow-wrap:anywhere}
img{width:96px;height:96px;border-radius:.4rem;display:block;margin:auto}
.muted{color:#777}
"""


def thumbnail(chip: bytes, size: int = 96) -> str:
    image = decode(chip, name="chip")
    h, w = image.shape[:2]
    middle = image[h // 8 : 7 * h // 8, w // 8 : 7 * w // 8]  # the face, less the margin
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(middle)).resize((size, size)).save(
        buffer, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def _figure(chip: bytes, path: str, note: str = "") -> str:
    name = html.escape(Path(path).name)
    return (f'<figure><img src="{thumbnail(chip)}" alt="{name}" title="{html.escape(path)}">'
            f"<figcaption>{name}{html.escape(note)}</figcaption></figure>")


def write_report(gallery: Gallery, out: Path, per_cluster: int = 60) -> dict:
    rows = gallery.store.albums.report()
    named: dict[str, list] = defaultdict(list)
    clusters: dict[int, list] = defaultdict(list)
    alone = 0
    for r in rows:
        if r.name is not None:
            named[r.name].append(r)
        elif r.cluster is not None:
            clusters[r.cluster].append(r)
        else:
            alone += 1
    parts = [f"<!doctype html><html lang=en><meta charset=utf-8><title>facepair: who is in "
             f"your photos</title><style>{STYLE}</style><h1>Who is in your photos</h1>",
             f"<p class=muted>{len(rows)} faces: {sum(map(len, named.values()))} named "
             f"({len(named)} people), {sum(map(len, clusters.values()))} in {len(clusters)} "
             f"clusters of unknown faces, {alone} unknown and alone.</p>"]
    for name, faces in named.items():
        parts.append(f"<h2>{html.escape(name)} <span class=muted>({len(faces)})</span></h2>"
                     "<div class=faces>")
        parts += [_figure(f.chip, f.path, f" · {f.similarity:.2f}"
                          if f.similarity is not None else "") for f in faces[:per_cluster]]
        parts.append("</div>")
    for cluster, faces in sorted(clusters.items(), key=lambda kv: -len(kv[1])):
        parts.append(f"<h2>Unknown cluster {cluster} <span class=muted>({len(faces)} faces; name "
                     f"them with <code>facepair clusters name {cluster} NAME</code>)</span></h2>"
                     "<div class=faces>")
        parts += [_figure(f.chip, f.path) for f in faces[:per_cluster]]
        parts.append("</div>")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return {"report": str(out), "people": len(named), "clusters": len(clusters)}
