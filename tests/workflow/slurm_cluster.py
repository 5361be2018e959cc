"""A real single-node SLURM cluster on loopback, for the SLURM executor test.

Installs Debian's slurm-wlm and munge if they are missing (root and apt needed),
starts munged, slurmctld and slurmd with a configuration in a temporary folder,
and stops them by PID. No accounting database: jobs are polled with squeue, so
MinJobAge keeps finished jobs visible long enough.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

PACKAGES = ["slurm-wlm", "munge"]
# The path Debian's Slurm reads when SLURM_CONF is unset. The configuration must be there too:
# the slurm-jobstep plugin drops SLURM_* variables (SLURM_CONF included) before its nested srun.
SYSTEM_CONF = Path("/etc/slurm/slurm.conf")
MARKER = "# sdprune test cluster: removed when the test stops"

SLURM_CONF = """\
{marker}
ClusterName=sdprune-test
SlurmctldHost={host}(127.0.0.1)
AuthType=auth/munge
CredType=cred/munge
SlurmUser=root
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation={state}/ctld
SlurmdSpoolDir={state}/d
SlurmctldPidFile={state}/slurmctld.pid
SlurmdPidFile={state}/slurmd.pid
SlurmctldLogFile={state}/slurmctld.log
SlurmdLogFile={state}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MinJobAge=600
ReturnToService=2
SchedulerType=sched/backfill
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def unavailable_reason() -> str | None:
    """Why this machine cannot run the cluster (None if it can)."""
    if os.geteuid() != 0:
        return "needs root to install and start Slurm and munge"
    if not shutil.which("sbatch") and not shutil.which("apt-get"):
        return "Slurm is not installed and apt-get is not available to install it"
    if SYSTEM_CONF.exists() and not SYSTEM_CONF.read_text().startswith(MARKER):
        return f"{SYSTEM_CONF} exists: this machine has a Slurm configuration of its own"
    return None


def install() -> None:
    if shutil.which("sbatch") and shutil.which("slurmctld") and shutil.which("munged"):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES]
    if subprocess.run(command, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, check=True, capture_output=True)
        subprocess.run(command, env=env, check=True, capture_output=True)


class Cluster:
    def __init__(self, state: Path, *, memory_mb: int = 8000) -> None:
        self.state = state
        self.host = socket.gethostname().split(".")[0]
        self.conf = state / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self.pids: list[int] = []
        self.memory_mb = memory_mb

    def start(self) -> "Cluster":
        install()
        for sub in ("ctld", "d"):
            (self.state / sub).mkdir(parents=True, exist_ok=True)
        text = SLURM_CONF.format(marker=MARKER, host=self.host, state=self.state, cpus=os.cpu_count(),
                                 memory=self.memory_mb)
        self.conf.write_text(text)
        SYSTEM_CONF.parent.mkdir(parents=True, exist_ok=True)
        SYSTEM_CONF.write_text(text)
        self._start_munge()
        subprocess.run(["slurmctld", "-f", str(self.conf)], env=self.env, check=True)
        self.pids.append(self._pid("slurmctld.pid"))
        subprocess.run(["slurmd", "-f", str(self.conf)], env=self.env, check=True)
        self.pids.append(self._pid("slurmd.pid"))
        self._wait_idle()
        return self

    def _start_munge(self) -> None:
        run_dir = Path("/run/munge")
        run_dir.mkdir(parents=True, exist_ok=True)
        shutil.chown(run_dir, "munge", "munge")
        if not Path("/etc/munge/munge.key").exists():
            subprocess.run(["runuser", "-u", "munge", "--", "mungekey", "--create"], check=True)
        pid_file = run_dir / "munged.pid"
        if pid_file.exists() and _alive(int(pid_file.read_text())):
            return  # already running (started by an earlier test session): leave it alone
        subprocess.run(["runuser", "-u", "munge", "--", "munged"], check=True)
        self.pids.append(_wait_for_pid(pid_file))

    def _pid(self, name: str) -> int:
        return _wait_for_pid(self.state / name)

    def _wait_idle(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = subprocess.run(["sinfo", "-h", "-o", "%T"], env=self.env, capture_output=True, text=True)
            if out.stdout.strip() in ("idle", "mixed"):
                return
            time.sleep(1)
        raise TimeoutError(f"the Slurm node never became idle: {out.stdout} {out.stderr}")

    def job_ids(self) -> set[str]:
        """Ids of every job the controller still knows (finished ones stay for MinJobAge)."""
        out = subprocess.run(["scontrol", "show", "job", "-o"], env=self.env, capture_output=True, text=True)
        return {field.split("=", 1)[1] for line in out.stdout.splitlines() for field in line.split()
                if field.startswith("JobId=")}

    def stop(self) -> None:
        if SYSTEM_CONF.exists() and SYSTEM_CONF.read_text().startswith(MARKER):
            SYSTEM_CONF.unlink()
        for pid in reversed(self.pids):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pid in self.pids:
            for _ in range(50):
                if not _alive(pid):
                    break
                time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def _wait_for_pid(path: Path, timeout: float = 20) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return int(path.read_text().split()[0])
        time.sleep(0.2)
    raise TimeoutError(f"{path} never appeared")
