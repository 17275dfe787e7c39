"""`newsletter publish OUTDIR`: the archive as a static site, rewritten only where it changed and
swapped in at once, so a web server never serves half a site.

1. OUTDIR must be a folder (or not exist yet, in a folder that does). A folder that is not empty
   must hold our manifest (`.newsletter-site.json`): publish never takes over a folder it did not write.
2. Every file is built (render/site.py); an edition's page whose key and bytes match the manifest
   is kept without being rendered again.
3. Nothing changed: nothing is touched, not a file, not a folder's mtime.
4. Otherwise a new tree is made in `.<OUTDIR name>.publish-<pid>` beside OUTDIR (same filesystem):
   unchanged files are hard links to the old ones (same bytes, same mtime), changed ones are
   written and flushed, and files someone else put in OUTDIR (not in our manifest: a `CNAME`, a
   `robots.txt`) are carried over. Then the two folders are exchanged in one atomic step
   (Linux `renameat2(RENAME_EXCHANGE)`) and the old tree is deleted.

What a web server sees meanwhile: every request is answered from the old tree or from the new
one, never a mix within a file and never a missing folder; a file it is sending when the swap
happens is sent whole (the old file lives until it is closed). Where the exchange is not
available (not Linux, or a filesystem without it) OUTDIR is renamed aside and the new tree renamed
in its place: for that instant (two renames, microseconds) OUTDIR does not exist and a request
gets a 404. Point the server at OUTDIR's path (nginx `root`, `python -m http.server -d OUTDIR`),
not at a process whose working directory is inside it, and do not make OUTDIR itself a mount point
(a bind mount cannot be renamed: mount its parent).
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import RunError, UsageError
from ..render.site import site_files
from ..wording import plural
from .lock import hold

log = logging.getLogger(__name__)

MANIFEST = ".newsletter-site.json"
PUBLISH_LOCK = "publish.lock"
GENERATOR = "newsletter publish"


class PublishError(RunError):
    """The site could not be written (disk full, permissions changed midway); OUTDIR is as it was."""


@dataclass
class PublishReport:
    outdir: Path
    written: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # files not ours, carried over

    def line(self) -> str:
        what = (f"{len(self.written)} written, {self.unchanged} unchanged, {len(self.removed)} removed"
                + (f", {plural(len(self.kept), 'file')} of yours kept" if self.kept else ""))
        return f"{self.outdir}: {what}" + ("" if self.written or self.removed else " (nothing changed)")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_outdir(outdir: str | Path) -> Path:
    """OUTDIR made absolute (symlinks resolved), or one UsageError line saying what is wrong with it."""
    out = Path(outdir).expanduser().absolute()
    out = out.resolve() if out.is_symlink() else out
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: is a file, not a folder; give the folder to publish the site into")
    if not out.parent.is_dir():
        raise UsageError(f"{out}: the folder {out.parent} does not exist; create it first")
    if out.is_dir():
        try:
            entries = [p.name for p in out.iterdir()]
        except OSError as e:
            raise UsageError(f"{out}: cannot read it ({e.strerror}); check its permissions") from None
        if entries and MANIFEST not in entries:
            raise UsageError(f"{out}: is not empty and was not written by `newsletter publish` (no {MANIFEST}); "
                             "publish into a new or empty folder")
    return out


def read_manifest(out: Path) -> dict[str, dict[str, str]]:
    try:
        doc = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
        return {str(k): dict(v) for k, v in doc.get("files", {}).items()}
    except (OSError, ValueError, AttributeError, TypeError):
        return {}


def manifest_bytes(files: dict[str, dict[str, str]]) -> bytes:
    doc = {"generator": GENERATOR, "files": files}
    return (json.dumps(doc, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def file_digest(path: Path) -> str | None:
    try:
        return sha256(path.read_bytes()) if path.is_file() and not path.is_symlink() else None
    except OSError:
        return None


def tree(root: Path) -> list[str]:
    """Every file (or symlink) under root, as "/"-separated relative paths."""
    out = []
    for d, dirs, names in os.walk(root):
        for n in names + [x for x in dirs if os.path.islink(os.path.join(d, x))]:
            out.append(Path(os.path.relpath(os.path.join(d, n), root)).as_posix())
    return sorted(out)


def publish(store, cfg, outdir: str | Path, profiles: list[str] | None = None) -> PublishReport:
    """Write the site into OUTDIR (see the module docstring); one publisher at a time."""
    out = check_outdir(outdir)
    for name in profiles or []:
        cfg.profile(name)  # an unknown list is a UsageError before anything is written
    with hold(Path(cfg.var_dir) / PUBLISH_LOCK, f"newsletter publish {out}", wait_seconds=60):
        out = check_outdir(out)  # again under the lock: another publisher may have just made it
        drop_stale(out)
        tmp = out.with_name(f".{out.name}.publish-{os.getpid()}")
        try:
            tmp.mkdir()
        except OSError as e:
            raise UsageError(f"{out}: cannot write in {out.parent} ({e.strerror}); publish somewhere you can write, "
                             "the new site is made beside the old one") from None
        try:
            report, plan, manifest = plan_site(store, cfg, out, profiles)
            if report.written or report.removed or file_digest(out / MANIFEST) != sha256(manifest):
                build_tree(out, tmp, plan, manifest)
                swap(tmp, out)
                log.info("published %s", report.line())
        except OSError as e:
            raise PublishError(f"{out}: could not write the site ({e.strerror or e}); the published site is "
                               "unchanged") from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return report


def drop_stale(out: Path) -> None:
    """The temporary trees of publishes that crashed (we hold the lock: nobody is using them)."""
    for p in out.parent.glob(f".{out.name}.publish-*"):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)


def plan_site(store, cfg, out: Path, profiles: list[str] | None):
    """(report, plan, manifest): plan maps each path of the new site to its bytes, or None to keep
    the old file (it is unchanged, or not ours)."""
    old = read_manifest(out)
    report = PublishReport(out)
    plan: dict[str, bytes | None] = {}
    files: dict[str, dict[str, str]] = {}
    for f in site_files(store, cfg, profiles):
        target, prev = out / f.path, old.get(f.path, {})
        if f.key and prev.get("key") == f.key and file_digest(target) == prev.get("sha256"):
            plan[f.path], files[f.path] = None, prev
            report.unchanged += 1
            continue
        data = f.build()
        files[f.path] = {"sha256": sha256(data), **({"key": f.key} if f.key else {})}
        same = file_digest(target) == files[f.path]["sha256"]
        plan[f.path] = None if same else data
        if same:
            report.unchanged += 1
        else:
            report.written.append(f.path)
    existing = tree(out) if out.is_dir() else []
    report.removed = [p for p in existing if p in old and p not in plan]
    report.kept = [p for p in existing if p not in old and p not in plan and p != MANIFEST]
    plan.update(dict.fromkeys(report.kept))
    return report, plan, manifest_bytes(files)


def build_tree(out: Path, tmp: Path, plan: dict[str, bytes | None], manifest: bytes) -> None:
    """The new site in `tmp`: kept files linked (same inode, bytes and mtime), new ones written and
    flushed. It is a public site: folders 0755 and files 0644 whatever the umask (a service's
    UMask=0077 would otherwise hide it from the web server)."""
    os.chmod(tmp, 0o755)
    for rel, data in plan.items():
        dest = tmp / rel
        for d in reversed(dest.relative_to(tmp).parents[:-1]):
            if not (tmp / d).is_dir():
                (tmp / d).mkdir()
                os.chmod(tmp / d, 0o755)
        if data is None:
            carry(out / rel, dest)
        else:
            write_file(dest, data)
    write_file(tmp / MANIFEST, manifest)


def carry(src: Path, dest: Path) -> None:
    if src.is_symlink():
        os.symlink(os.readlink(src), dest)
        return
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)  # a filesystem without hard links: same bytes and mtime, new inode


def write_file(dest: Path, data: bytes) -> None:
    with open(dest, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(dest, 0o644)


def exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one atomic step (Linux renameat2 RENAME_EXCHANGE); False where the
    system or the filesystem cannot."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def swap(tmp: Path, out: Path) -> None:
    """Put the new tree `tmp` at `out`; afterwards `tmp` holds the old tree (or nothing)."""
    if not out.exists():
        os.rename(tmp, out)
        return
    if exchange(tmp, out):
        return
    aside = out.with_name(f".{out.name}.publish-old-{os.getpid()}")
    os.rename(out, aside)
    try:
        os.rename(tmp, out)
    except OSError:
        os.rename(aside, out)
        raise
    os.rename(aside, tmp)
