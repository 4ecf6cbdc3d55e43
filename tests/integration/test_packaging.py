"""What the Dockerfile builds — the editor bundle and the wheel — built and checked here, since no
Docker engine is at hand; the Dockerfile itself is checked by reading it."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import httpx

from server.settings import PROJECT_ROOT


def test_wheel_contains_every_package_migrations_and_the_console_script(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(tmp_path),
         str(PROJECT_ROOT)],
        check=True, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("galaxy-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ("server/app.py", "server/placeholder.html", "engine/spec.py", "collab/__init__.py",
                     "piccolo_conf.py", "migrations/__init__.py", "server/media/__init__.py",
                     "server/workflows/samples/product.jpg", "server/workflows/samples/product.mp4"):  # fmt: skip
        assert required in names, required
    shipped = {Path(n).name for n in names if n.startswith("migrations/galaxy_")}
    assert shipped == {p.name for p in (PROJECT_ROOT / "migrations").glob("galaxy_*.py")}
    assert not any(n.startswith("tests/") for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "galaxy = server.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_editor_bundle_is_built_and_served(base_url: str) -> None:
    index = PROJECT_ROOT / "static" / "dist" / "index.html"
    if not index.exists():  # `./run test` builds it; a bare pytest run may not have
        subprocess.run(["npm", "run", "build"], cwd=PROJECT_ROOT / "static", check=True, timeout=300)
    page = httpx.get(f"{base_url}/")
    assert page.status_code == 200 and '<div id="root">' in page.text
    assert httpx.get(f"{base_url}/w/any-workflow").text == page.text  # the editor routes client-side
    script = re.search(r'src="(/assets/[^"]+\.js)"', page.text)
    assert script, page.text
    asset = httpx.get(f"{base_url}{script.group(1)}")
    assert asset.status_code == 200 and "javascript" in asset.headers["content-type"]


def test_dockerfile_builds_the_editor_and_runs_web_as_non_root() -> None:
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", dockerfile, re.MULTILINE | re.IGNORECASE)
    assert [image.split(":")[0] for image, _ in stages] == ["node", "python"]
    assert "npm ci" in dockerfile and "npm run build" in dockerfile
    assert re.search(r"COPY --from=editor \S*dist", dockerfile)
    user = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert user and user[-1] not in ("root", "0")
    assert re.search(r'^CMD \["galaxy", "web"\]', dockerfile, re.MULTILINE)
    # Every package the wheel ships is copied into the image.
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]:
        package = pattern.rstrip("*")
        assert re.search(rf"^COPY {package}/ ", dockerfile, re.MULTILINE), package
    ignored = (PROJECT_ROOT / ".dockerignore").read_text().split()
    assert "static/node_modules" in ignored and ".venv" in ignored


def test_procfile_commands_exist() -> None:
    procfile = dict(line.split(":", 1) for line in (PROJECT_ROOT / "Procfile").read_text().splitlines() if line.strip())
    assert set(procfile) == {"web", "worker"}
    for command in procfile.values():
        program, subcommand = command.split()
        assert program == "galaxy"
        result = subprocess.run(
            [sys.executable, "-m", "server.cli", subcommand, "--help"], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
