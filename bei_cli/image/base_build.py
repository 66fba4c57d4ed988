"""`bei image base`: build a base runtime image from Debian packages, without a daemon.

debootstrap (minbase, bookworm) with python3, python3-venv and ca-certificates; a venv at
/opt/bei/venv holding the variant's requirements (bei_cli/templates/requirements-<variant>.txt,
shipped as package data, with the files they include), pip run inside the chroot with the host's
pip CA and (for the cpu variant's torch CPU wheel) find-links; a check that torch is the build the
variant promises; the user `bei` (uid 10001); caches, docs and byte code stripped; the root
filesystem packed as one layer with `layer.write_layer` into an OCI layout. The cuda variant is
the same recipe with PyPI's torch wheel, which carries CUDA's runtime libraries as nvidia-*
wheels. Subprocess steps log to <work>/<step>.log; the root filesystem is removed once packed.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from bei_cli.errors import BuildError
from bei_cli.image.layer import tree_entries, write_layer
from bei_cli.image.spec import BEI_UID, VENV, base_config, created_at
from bei_cli.image.variants import VARIANTS, BaseVariant
from bei_cli.oci import OciLayout

Progress = Callable[[str], None]
DEBIAN_SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("python3", "python3-venv", "ca-certificates")
STAGING = "tmp/bei-build"  # inside the rootfs, removed before packing
# Environment passed from the host to pip in the chroot (the CA and wheels are copied in).
PIP_PASSTHROUGH = (
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_DEFAULT_TIMEOUT",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
)
STRIP = (
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "var/cache/apt",
    "var/lib/apt/lists",
    "var/cache/debconf",
    "var/log",
    "tmp",
    "root/.cache",
)
ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64"}
TEMPLATES = Path(__file__).resolve().parents[1] / "templates"  # package data of bei_cli
# Run in the chroot after pip: the venv imports what `bei serve` needs, and torch (when the
# variant has it) is the build the variant promises: a cpu base must not carry a CUDA wheel that
# a missing PIP_FIND_LINKS let pip fetch, nor a cuda base a CPU wheel.
IMPORT_CHECK = (
    "import fastapi, granian, uvloop, tokenizers, safetensors, onnxruntime, numpy, sys\n"
    "want = sys.argv[1]\n"
    "if want != '-':\n"
    "    import torch, transformers\n"
    "    have = 'cuda' if torch.version.cuda else 'cpu'\n"
    "    print('torch', torch.__version__, 'cuda', torch.version.cuda)\n"
    "    if have != want:\n"
    "        sys.exit(f'torch {torch.__version__} is a {have} build; this base needs {want}')\n"
)


@dataclass(frozen=True)
class BaseResult:
    layout_dir: Path
    manifest_digest: str
    ref_name: str
    size: int  # bytes of the packed layer


def variant(name: str) -> BaseVariant:
    if name not in VARIANTS:
        raise BuildError(
            f"unknown base variant {name!r}.",
            param="--variant",
            hint=f"Choose one of {', '.join(VARIANTS)}.",
        )
    return VARIANTS[name]


def requirement_files(chosen: BaseVariant, templates: Path) -> list[Path]:
    """The variant's requirements file and every file it includes with `-r`, in that order."""
    found: list[Path] = []
    pending = [templates / chosen.requirements]
    while pending:
        path = pending.pop()
        if not path.is_file():
            raise BuildError(
                f"{path} is missing.",
                hint="Pass --templates DIR holding requirements-<variant>.txt and the files "
                "they include (bei ships them in bei_cli/templates/).",
            )
        found.append(path)
        for line in path.read_text().splitlines():
            option, _, name = line.strip().partition(" ")
            if option in ("-r", "--requirement") and name.strip():
                pending.append(path.parent / name.strip())
    return found


def build_base(
    chosen: BaseVariant,
    out_dir: Path,
    *,
    work_dir: Path,
    templates: Path,
    host_env: Mapping[str, str],
    mirror: str = DEFAULT_MIRROR,
    progress: Progress = print,
) -> BaseResult:
    """Bootstrap, install, check, strip and pack; `work_dir` holds the rootfs (removed once
    packed) and the step logs."""
    requirements = requirement_files(chosen, templates)
    check_torch_source(chosen, requirements, host_env)
    _require_root_and_tools()
    rootfs = work_dir / "rootfs"
    _unmount_under(rootfs)  # a debootstrap killed midway leaves /proc mounted there
    if rootfs.exists():
        shutil.rmtree(rootfs)
    work_dir.mkdir(parents=True, exist_ok=True)
    step = _Steps(work_dir, progress)
    try:
        result = _bootstrap_and_pack(chosen, rootfs, out_dir, requirements, mirror, host_env, step)
    finally:
        _unmount_under(rootfs)
    shutil.rmtree(rootfs)  # GBs for torch; the layer holds it now
    return result


def _bootstrap_and_pack(
    chosen: BaseVariant,
    rootfs: Path,
    out_dir: Path,
    requirements: list[Path],
    mirror: str,
    host_env: Mapping[str, str],
    step: _Steps,
) -> BaseResult:
    step.run(
        "debootstrap",
        [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(PACKAGES)}",
            DEBIAN_SUITE,
            str(rootfs),
            mirror,
        ],
    )
    env = _stage_pip_inputs(rootfs, requirements, chosen, host_env)
    chroot = ["chroot", str(rootfs)]
    step.run("venv", [*chroot, "python3", "-m", "venv", str(VENV)], env=env)
    step.run(
        "pip",
        [
            *chroot,
            f"{VENV}/bin/pip",
            "install",
            "--no-cache-dir",
            "--no-compile",
            "-r",
            f"/{STAGING}/{requirements[0].name}",
        ],
        env=env,
    )
    check = [*chroot, f"{VENV}/bin/python", "-c", IMPORT_CHECK, chosen.torch_build or "-"]
    step.run("check", check, env=env)
    step.run(
        "user",
        [
            *chroot,
            "useradd",
            "--uid",
            str(BEI_UID),
            "--user-group",
            "--create-home",
            "--home-dir",
            "/home/bei",
            "--shell",
            "/usr/sbin/nologin",
            "bei",
        ],
        env=env,
    )
    _strip(rootfs)
    return step.timed("pack", lambda: _pack(rootfs, out_dir, chosen, host_env))


def find_links(host_env: Mapping[str, str]) -> list[Path]:
    """The host's local wheel directories: PIP_FIND_LINKS (space-separated), as pip reads it."""
    return [Path(p) for p in host_env.get("PIP_FIND_LINKS", "").split() if Path(p).is_dir()]


def check_torch_source(
    chosen: BaseVariant, requirements: list[Path], host_env: Mapping[str, str]
) -> None:
    """Before any download: a cpu base needs the torch CPU wheel in PIP_FIND_LINKS or an extra
    index that serves CPU builds; plain PyPI would hand pip the multi-GB CUDA build."""
    if not chosen.uses_find_links:
        return
    lines = [line.strip() for path in requirements for line in path.read_text().splitlines()]
    pins = [line for line in lines if line.startswith("torch==")]
    version = pins[0].removeprefix("torch==") if pins else ""
    wheels = [w for link in find_links(host_env) for w in link.glob(f"torch-{version}+cpu-*.whl")]
    if wheels or "/whl/cpu" in host_env.get("PIP_EXTRA_INDEX_URL", ""):
        return
    raise BuildError(
        f"the {chosen.name} base needs the CPU build of torch {version}, and no "
        "PIP_FIND_LINKS directory holds it.",
        param="--variant",
        hint=f"Put torch-{version}+cpu-*.whl in a directory named by PIP_FIND_LINKS, or set "
        "PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu.",
    )


def _unmount_under(rootfs: Path) -> None:
    """Unmount what debootstrap mounted inside our rootfs (deepest first); nothing else."""
    prefix = str(rootfs.resolve()) + "/"
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return
    points = [line.split()[1] for line in mounts if len(line.split()) > 1]
    for point in sorted((p for p in points if p.startswith(prefix)), reverse=True):
        subprocess.run(["umount", "--lazy", point], check=False, capture_output=True)


def _require_root_and_tools() -> None:
    if os.geteuid() != 0:
        raise BuildError(
            "`bei image base` needs root: debootstrap and chroot create a root filesystem.",
            hint="Run it with sudo (or in a root container), or build templates/cpu.Dockerfile "
            "with docker/podman instead.",
        )
    for tool in ("debootstrap", "chroot"):
        if shutil.which(tool) is None:
            raise BuildError(f"{tool} is not installed.", hint="apt-get install debootstrap")


def _stage_pip_inputs(
    rootfs: Path, requirements: list[Path], chosen: BaseVariant, host_env: Mapping[str, str]
) -> dict[str, str]:
    """Copy the requirements files (side by side, so `-r` includes resolve), the host's pip CA
    bundle, DNS config and (for the cpu variant's torch) the local wheel directories into the
    rootfs; return pip's environment inside the chroot."""
    staging = rootfs / STAGING
    staging.mkdir(parents=True, exist_ok=True)
    for path in requirements:
        shutil.copyfile(path, staging / path.name)
    shutil.copyfile("/etc/resolv.conf", rootfs / "etc" / "resolv.conf")
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/root",
        "LANG": "C.UTF-8",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    env.update({k: host_env[k] for k in PIP_PASSTHROUGH if k in host_env})
    ca = host_env.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt"
    if Path(ca).is_file():
        shutil.copyfile(ca, staging / "ca.crt")
        env["PIP_CERT"] = f"/{STAGING}/ca.crt"
    links = find_links(host_env)
    if chosen.uses_find_links and links:
        wheels = staging / "wheels"
        for link in links:
            shutil.copytree(link, wheels, dirs_exist_ok=True)
        env["PIP_FIND_LINKS"] = f"/{STAGING}/wheels"
    return env


def _strip(rootfs: Path) -> None:
    for rel in STRIP:
        target = rootfs / rel
        if target.is_dir():
            for child in target.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
    for cache in sorted((rootfs / VENV.relative_to("/")).rglob("__pycache__"), reverse=True):
        shutil.rmtree(cache, ignore_errors=True)
    (rootfs / "etc" / "resolv.conf").write_text("")
    (rootfs / "etc" / "machine-id").write_text("")


def _pack(
    rootfs: Path, out_dir: Path, chosen: BaseVariant, host_env: Mapping[str, str]
) -> BaseResult:
    created = created_at(host_env.get("SOURCE_DATE_EPOCH"))
    layout = OciLayout(out_dir).create()
    written = write_layer(tree_entries(rootfs), layout.scratch("rootfs"), mtime=created.epoch)
    layer = layout.adopt_layer(written)
    arch = ARCHITECTURES.get(platform.machine(), platform.machine())
    config = base_config(
        variant=chosen.name,
        engines=chosen.engines,
        devices=chosen.devices,
        env=chosen.env,
        architecture=arch,
        created=created,
        diff_ids=(written.diff_id,),
    )
    ref = chosen.name
    manifest, _ = layout.finish(config, [layer], ref)
    return BaseResult(out_dir, manifest.digest, ref, layer.size)


class _Steps:
    """Runs named steps, logging each subprocess to <work>/<name>.log and reporting timings."""

    def __init__(self, work_dir: Path, progress: Progress) -> None:
        self.work_dir, self.progress = work_dir, progress

    def run(self, name: str, argv: list[str], env: Mapping[str, str] | None = None) -> None:
        log = self.work_dir / f"{name}.log"
        self.progress(f"[{name}] {' '.join(argv[:4])} ... (log: {log})")
        start = time.monotonic()
        with log.open("wb") as handle:
            code = subprocess.run(
                argv,
                stdout=handle,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                check=False,
            ).returncode
        if code != 0:
            tail = log.read_text(errors="replace")[-2000:]
            raise BuildError(
                f"base image step {name} failed (exit {code}).",
                details=(tail,),
                hint=f"See {log}; the Debian mirror and the package index must be reachable.",
            )
        self.progress(f"[{name}] done in {time.monotonic() - start:.0f}s")

    def timed(self, name: str, action: Callable[[], BaseResult]) -> BaseResult:
        self.progress(f"[{name}] packing the root filesystem ...")
        start = time.monotonic()
        result = action()
        self.progress(f"[{name}] done in {time.monotonic() - start:.0f}s: {result.size >> 20} MiB")
        return result
