"""Docker does not run here, so the container must install the way the tests do: these check
that the Dockerfile and the compose file say what the deploy guide promises."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_dockerfile_installs_like_make_and_runs_safely() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^RUN make install\b", text, re.M), "the image must install with make"
    assert re.search(r"^USER facepair$", text, re.M), "the service must not run as root"
    assert "HEALTHCHECK" in text and "/healthz" in text
    assert re.search(r'^CMD \["facepair", "serve"\]', text, re.M)
    assert "ARG VARIANT=cpu" in text and "AS base-cuda" in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "var", ".git"} <= set(ignored)
    assert not any(line.strip() == "models" for line in ignored), "the model ships inside"
    make = (ROOT / "Makefile").read_text()
    assert "torch==2.14.1 torchvision==0.29.1" in make and "TORCH_INDEX" in make


def test_compose_has_a_volume_and_a_gpu_profile() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text())
    cpu, gpu = compose["services"]["facepair"], compose["services"]["facepair-gpu"]
    assert "facepair-data:/data" in cpu["volumes"] and "facepair-data:/data" in gpu["volumes"]
    assert gpu["profiles"] == ["gpu"] and gpu["build"]["args"]["VARIANT"] == "cuda"
    assert gpu["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert "facepair-data" in compose["volumes"]


def test_the_replicas_compose_shares_the_database_and_the_library_only() -> None:
    """Two replicas over one PostgreSQL: each its own home volume, one photo library, the
    database's password required, and a replica healthy only while /readyz says so."""
    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.replicas.yml").read_text())
    services = compose["services"]
    replicas = [services[name] for name in ("api-1", "api-2")]
    homes = [next(v for v in r["volumes"] if v.endswith(":/data")) for r in replicas]
    assert len(set(homes)) == 2, "each replica has a home of its own"
    assert all("photos:/photos" in r["volumes"] for r in replicas)
    for r in replicas:
        store = r["environment"]["FACEPAIR_STORE"]
        assert store.startswith("postgresql://") and "@db:5432/" in store
        assert "${FACEPAIR_DB_PASSWORD:?" in store
        assert r["depends_on"]["db"]["condition"] == "service_healthy"
        assert "/readyz" in " ".join(r["healthcheck"]["test"])
        assert r["environment"]["FACEPAIR_ALBUM_ROOTS"] == '["/photos"]'
    assert "pg_isready" in services["db"]["healthcheck"]["test"]
    assert {"facepair-db", "photos"} <= set(compose["volumes"])
    assert re.search(r"mkdir -p /data /photos\s*\\\s*&& chown facepair /data /photos",
                     (ROOT / "Dockerfile").read_text())
