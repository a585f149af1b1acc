"""One container of a rendered pod spec run on this machine under the constraints Kubernetes
would put on it: its command, args and env, a read-only root filesystem with the pod's volumes
mounted where its volumeMounts say (emptyDir, ConfigMap, Secret, PVC: temporary directories, the
read-only ones remounted read-only), as the uid, gid and fsGroup its securityContext sets, with no
capabilities and no new privileges.

How: `unshare --mount` gives a private mount namespace; in it an overlay of `/` (writes go to a
tmpfs) is where the mount points are made, then the volumes are bind-mounted, the overlay is
remounted read-only and the process is chrooted into it and dropped to the uid with `setpriv`.
`exec` enters the same namespace and root (`nsenter`), as `kubectl exec` does.

What differs from a cluster: the root filesystem is this machine's, with the project's virtualenv
standing in for the image (the image's `cql-dynamo-proxy` is `python -m proxy.cli`, its `python`
the virtualenv's, PYTHONPATH the checkout); the network is this machine's (no network namespace,
so the pod's ports are remapped to free ones and its loopback is the shared one)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.conftest import ROOT

from .manifests import env_of, secret_refs

# the image's entrypoint (deploy/docker/Dockerfile) and its programs, as run here
IMAGE_ENTRYPOINT = ["cql-dynamo-proxy"]
IMAGE_PROGRAMS = {"cql-dynamo-proxy": [sys.executable, "-m", "proxy.cli"], "python": [sys.executable]}

_SETUP = r"""
set -eu
work="$1"; shift
container_path="$PATH"
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t tmpfs -o mode=0700 cdp-pod "$work"
mkdir "$work/upper" "$work/scratch" "$work/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$work/upper,workdir=$work/scratch" "$work/root"
mount --rbind /dev "$work/root/dev"
mount --rbind /proc "$work/root/proc"
while [ "$1" != "--" ]; do
  path="$1"; src="$2"; mode="$3"; shift 3
  chroot "$work/root" mkdir -p "$path"
  real=$(chroot "$work/root" readlink -f "$path")
  mount --bind "$src" "$work/root$real"
  if [ "$mode" = ro ]; then mount -o remount,bind,ro "$work/root$real"; fi
done
shift
mount -o remount,ro "$work/root"
chroot=$(command -v chroot)
PATH="$container_path"
exec "$chroot" "$work/root" "$@"
"""


def tools_available() -> str | None:
    """Why the simulation cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root for mount namespaces"
    for tool in ("unshare", "nsenter", "setpriv", "chroot", "mount"):
        if shutil.which(tool) is None:
            return f"{tool} not found"
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                        "d=$(mktemp -d); mount -t tmpfs t $d && mkdir $d/u $d/w $d/r && "
                        "mount -t overlay o -o lowerdir=/,upperdir=$d/u,workdir=$d/w $d/r; rc=$?; "
                        "umount -R $d; rmdir $d; exit $rc"], capture_output=True, text=True)
    return None if r.returncode == 0 else f"overlay mount in a mount namespace refused: {r.stderr.strip()}"


class Pod:
    """The volumes of one pod, materialised as temporary directories."""

    def __init__(self, spec: dict[str, Any], tmp: Path, configmaps: dict[str, dict[str, str]],
                 secrets: dict[str, dict[str, str]]) -> None:
        self.spec, self.tmp, self.secrets = spec, tmp, secrets
        sc = spec.get("securityContext", {})
        self.fs_group: int | None = sc.get("fsGroup")
        self.volumes: dict[str, Path] = {}
        for vol in spec.get("volumes", []):
            path = tmp / "volumes" / vol["name"]
            path.mkdir(parents=True)
            if "emptyDir" in vol or "persistentVolumeClaim" in vol:
                os.chmod(path, 0o777)  # as the kubelet makes an emptyDir
            elif "configMap" in vol:
                self._files(path, vol["configMap"], configmaps[vol["configMap"]["name"]], 0o644)
            elif "secret" in vol:
                self._files(path, vol["secret"], secrets[vol["secret"]["secretName"]], 0o644)
            else:
                raise AssertionError(f"volume {vol['name']}: a kind this simulation does not know")
            if self.fs_group is not None:
                os.chown(path, -1, self.fs_group)
            self.volumes[vol["name"]] = path

    def _files(self, path: Path, source: dict[str, Any], data: dict[str, str], default: int) -> None:
        items = source.get("items") or [{"key": k, "path": k} for k in data]
        mode = source.get("defaultMode", default)
        for item in items:
            f = path / item["path"]
            f.write_text(data[item["key"]])
            os.chmod(f, item.get("mode", mode))
            if self.fs_group is not None:
                os.chown(f, 0, self.fs_group)

    def container(self, name: str) -> dict[str, Any]:
        return next(c for c in [*self.spec.get("initContainers", []), *self.spec["containers"]]
                    if c["name"] == name)

    def user(self, container: dict[str, Any]) -> list[str]:
        """setpriv arguments for the container's securityContext (container over pod)."""
        sc = {**self.spec.get("securityContext", {}), **container.get("securityContext", {})}
        assert sc.get("runAsNonRoot") and sc.get("runAsUser"), "the container may run as root"
        uid, gid = sc["runAsUser"], sc.get("runAsGroup", sc["runAsUser"])
        groups = [str(g) for g in (gid, self.fs_group) if g is not None]
        args = ["setpriv", f"--reuid={uid}", f"--regid={gid}", f"--groups={','.join(groups)}",
                "--inh-caps=-all", "--bounding-set=-all"]
        if sc.get("allowPrivilegeEscalation") is False:
            args.append("--no-new-privs")
        return args

    def environment(self, container: dict[str, Any], overrides: dict[str, str]) -> dict[str, str]:
        base = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/home/cdp", "HOSTNAME": "shop-cart-7d9f-x2k4q",
                "PYTHONPATH": str(ROOT)}
        from_secrets = {name: self.secrets[secret][key] for name, (secret, key) in secret_refs(container).items()}
        return {**base, **env_of(container), **from_secrets, **overrides}


def _argv(command: list[str]) -> list[str]:
    return [*IMAGE_PROGRAMS.get(command[0], [command[0]]), *command[1:]]


class Container:
    """A running container of a Pod."""

    def __init__(self, pod: Pod, name: str, overrides: dict[str, str], log: Path) -> None:
        self.pod, self.spec = pod, pod.container(name)
        self.env = pod.environment(self.spec, overrides)
        assert self.spec["securityContext"]["readOnlyRootFilesystem"] is True
        mounts: list[str] = []
        for m in self.spec.get("volumeMounts", []):
            mounts += [m["mountPath"], str(pod.volumes[m["name"]]), "ro" if m.get("readOnly") else "rw"]
        self.work = Path(tempfile.mkdtemp(prefix="cdp-pod-"))
        command = _argv([*(self.spec.get("command") or IMAGE_ENTRYPOINT), *self.spec.get("args", [])])
        self.log_path = log
        self._log = open(log, "w")  # noqa: SIM115 - owned by the process for its lifetime
        self.proc = subprocess.Popen(
            [shutil.which("unshare") or "unshare", "--mount", "--propagation", "private", "sh", "-c", _SETUP, "setup", str(self.work),
             *mounts, "--", *pod.user(self.spec), *command],
            stdout=self._log, stderr=subprocess.STDOUT, text=True, env=self.env)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def exec(self, command: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """`kubectl exec` into the container: its namespace, root, user and environment."""
        return subprocess.run([shutil.which("nsenter") or "nsenter", f"--target={self.proc.pid}", "--mount", "--root", "--wd=/",
                               *self.pod.user(self.spec), *_argv(command)],
                              capture_output=True, text=True, env=self.env, timeout=timeout)

    def stop(self, timeout: float) -> int:
        """SIGTERM, as the kubelet sends it; SIGKILL after `timeout` (the grace period)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        shutil.rmtree(self.work, ignore_errors=True)  # an empty mount point once the namespace is gone
        return self.proc.returncode

    def wait_for(self, check: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the container exited with {self.proc.returncode} before {what}:\n{self.log()}")
            if check():
                return
            time.sleep(0.2)
        raise AssertionError(f"no {what} within {timeout}s:\n{self.log()}")
