"""Per-file digests of a model, computed by model-signing exactly as a signature would.

Provenance subjects, the ML-BOM and scan attestations all bind to these digests, so that a deploy
gate can check every attestation against the same bytes the signature covers.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, cast

from mlchain.errors import MlchainError, UsageError
from mlchain.signing import _oms
from mlchain.signing.tree import ModelTree, link_hazard, list_model

HashAlgorithm = Literal["sha256", "blake2", "blake3"]

DEFAULT_SIGNATURE_NAME = "model.sig"
SIGNATURE_SUFFIX = ".sig"
"""A single-file model's signature is the file's name plus this suffix (``w.pt.sig``)."""


def file_digests(
    model_path: Path,
    *,
    ignore: Sequence[Path] = (),
    algorithm: HashAlgorithm = "sha256",
    tree: ModelTree | None = None,
) -> dict[str, str]:
    """Return ``{relative posix name: hex digest}`` for every file of the model.

    ``model_path`` is a file or a folder. Git metadata and ``ignore`` (paths relative to the
    folder) are skipped, as model-signing skips them when signing. For a single file the key is
    the file name. The folder is listed by :func:`mlchain.signing.tree.list_model` (or ``tree``,
    when the caller already listed it), so an unlistable folder fails instead of being skipped.

    Raises:
        UnreadableModelError: a folder of the model cannot be listed.
    """
    config = hashing_config(algorithm=algorithm, ignore=ignore, allow_symlinks=False)
    return _oms.manifest_digests(hash_model(config, model_path, tree), model_path)


def hash_model(config: Any, model_path: Path, tree: ModelTree | None = None) -> Any:
    """Hash ``model_path`` with a model-signing ``config`` over mlchain's complete listing.

    Raises:
        UnreadableModelError: a folder of the model cannot be listed.
        OSError, ValueError: from model-signing (unreadable or special files).
    """
    from mlchain.signing.hashwatch import run_hashing

    listing = tree if tree is not None else list_model(model_path)
    inputs = listing.hash_inputs()
    _oms.read_pinned_files(config)  # the gate's one open of each file (mlchain issue #15, 5)
    # Interruptible within a 1 MiB read, with progress for a front end (signing/hashwatch.py).
    manifest = run_hashing(lambda: config.hash(model_path, files_to_hash=inputs), inputs)
    _oms.check_pinned_shards(manifest, model_path)
    return manifest


def signature_ignore(model_path: Path, signature: Path) -> list[Path]:
    """The signature file's path relative to the model folder, when it lies inside it.

    Computed lexically from absolute paths, never through the ``--ignore`` heuristics of
    :func:`relative_ignores`: on first signing the bundle does not exist yet, and a relative
    model path once recorded ``<relpath>/model.sig`` in the signed ignore list, leaving the real
    ``model.sig`` uncovered and an unsigned slot free (mlchain issue #15, item 9).
    """
    if not model_path.is_dir():
        return []
    root = Path(os.path.abspath(model_path))  # noqa: PTH100 (lexical: links are not resolved)
    target = Path(os.path.abspath(signature))  # noqa: PTH100
    try:
        relative = target.relative_to(root)
    except ValueError:
        return []
    return [relative] if str(relative) != "." else []


class SymlinkError(UsageError):
    """The model contains a symbolic link that mlchain's symlink rule refuses."""

    hint = (
        "Replace the link with the file it points to, or pass --allow-symlinks if every link "
        "points to a regular file inside the model folder (see docs/signing.md)."
    )


def default_signature_path(model_path: Path) -> Path:
    """Return the default signature path: ``model.sig`` in a folder, ``<file>.sig`` for a file.

    A single-file model gets a signature of its own name, never the folder's shared
    ``model.sig``: two single-file models in one folder would otherwise overwrite each other's
    signature, and a verifier would check one file against the other's bundle.
    """
    if model_path.is_dir():
        return model_path / DEFAULT_SIGNATURE_NAME
    return model_path.with_name(model_path.name + SIGNATURE_SUFFIX)


def relative_ignores(model_path: Path, paths: Iterable[Path]) -> list[Path]:
    """Map ``--ignore`` paths onto paths relative to the model folder.

    A relative path that names something inside the model when read from the current folder
    (``--ignore model/README.md``) is taken that way, as the upstream CLI does; otherwise it is
    relative to the model folder (``--ignore README.md``). Paths outside the model are dropped:
    they cannot be part of it anyway. Single-file models have nothing to ignore.
    """
    if not model_path.is_dir():
        return []
    root = model_path.resolve()
    result: list[Path] = []
    for path in paths:
        candidates = [path] if path.is_absolute() else [Path.cwd() / path, root / path]
        for candidate in candidates:
            try:
                relative = _lexical_resolve(candidate).relative_to(root)
            except ValueError:
                continue
            if str(relative) != "." and (candidate.exists() or candidate is candidates[-1]):
                result.append(relative)
                break
    return sorted(set(result))


def _lexical_resolve(path: Path) -> Path:
    """Resolve ``path``'s parent folder (symlinks included) but not its last component."""
    return path.parent.resolve() / path.name


def check_symlinks(model_path: Path, *, allow: bool, ignore: Sequence[Path] = ()) -> bool:
    """Enforce mlchain's symlink rule on a model before hashing it; return the effective rule.

    By default any symbolic link is refused. With ``allow``, a link is accepted only if it points
    to a regular file inside the model folder: model-signing would otherwise hash files outside
    the model (whatever the link points to when verifying) or silently skip linked folders.
    Links under ignored paths (``ignore``, relative to the folder; git metadata) are not checked.

    A Hugging Face cache snapshot (``models--org--name/snapshots/<commit>``) is the one folder
    made of links by design: there, links are accepted when they resolve to regular files inside
    the cached repository (its ``blobs/``), and ``True`` is returned so hashing follows them.

    Returns:
        Whether model-signing must follow symbolic links when hashing.

    Raises:
        SymlinkError: on the first link the rule refuses.
    """
    from mlchain.sources.hfcache import locate

    cache = None
    if model_path.is_dir():
        try:
            cache = locate(model_path)
        except MlchainError:
            cache = None
    if cache is not None and cache.snapshot == model_path.absolute():
        _walk_links(model_path, cache.repo_dir.resolve(), allow=True, ignore=ignore, cache=True)
        return True
    root = model_path if model_path.is_dir() and not model_path.is_symlink() else model_path.parent
    _walk_links(model_path, root.resolve(), allow=allow, ignore=ignore)
    return allow


def _walk_links(
    model_path: Path, real_root: Path, *, allow: bool, ignore: Sequence[Path], cache: bool = False
) -> None:
    skipped = {Path(p) for p in ignore} | {Path(g) for g in _GIT_PATHS}
    if model_path.is_symlink():
        _check_link(model_path, real_root, allow=allow, shown=model_path.name, cache=cache)
        if not model_path.is_dir():
            return
    if not model_path.is_dir():
        return
    start = model_path.resolve()
    for name, full, _ in list_model(model_path).entries:  # fails on an unlistable folder
        rel = Path(name)
        if any(rel == s or s in rel.parents for s in skipped):
            continue
        if full.is_symlink():
            _check_link(full, real_root, allow=allow, shown=rel.as_posix(), cache=cache)
            # Resolving here is not resolving where the model is served (mlchain issue #15).
            hazard = link_hazard(start, name, real_root)
            if hazard is not None:
                raise SymlinkError(
                    f"{hazard}; mlchain refuses links whose target depends on where the model "
                    "is mounted (use relative links that stay inside the model folder)."
                )


def _check_link(
    link: Path, real_root: Path, *, allow: bool, shown: str, cache: bool = False
) -> None:
    target = link.readlink()
    if not allow:
        raise SymlinkError(f"{shown} is a symbolic link (to {target}); mlchain refuses symlinks.")
    real = link.resolve()
    if real != real_root and real_root not in real.parents:
        if cache:
            raise SymlinkError(
                f"{shown} in the Hugging Face cache snapshot links outside its cached repository "
                f"(to {target}); mlchain refuses it."
            )
        raise SymlinkError(
            f"{shown} is a symbolic link to {target}, outside the model folder; "
            "--allow-symlinks accepts only links that stay inside it."
        )
    if not real.is_file():
        raise SymlinkError(
            f"{shown} is a symbolic link to {target}, which is not a regular file; linked "
            "folders and dangling links are never accepted (their contents would go unsigned)."
        )


_GIT_PATHS = (".git", ".gitattributes", ".github", ".gitignore")


def hashing_config(
    *,
    algorithm: str,
    ignore: Sequence[Path],
    allow_symlinks: bool,
    method: str = "files",
    shard_size: int | None = None,
) -> Any:
    """Build a ``model_signing.hashing.Config`` for per-file hashing.

    ``method="shards"`` hashes each file in pieces of ``shard_size`` bytes, on every core even for
    one large file (``mlchain sign --shard-size``). ``ignore`` (relative to the model folder) and
    git metadata are skipped.
    """
    config = _oms.hashing_config()
    hash_type = cast(HashAlgorithm, algorithm)
    if method == "shards":
        # NOTE(signing): shard_size comes back from JSON as a float; model-signing needs an int.
        config.use_shard_serialization(
            hashing_algorithm=hash_type,
            shard_size=int(shard_size or 1_000_000_000),
            allow_symlinks=allow_symlinks,
        )
    else:
        config.use_file_serialization(hashing_algorithm=hash_type, allow_symlinks=allow_symlinks)
    config.set_ignored_paths(paths=list(ignore), ignore_git_paths=True)
    config.set_allow_symlinks(allow_symlinks)
    return config
