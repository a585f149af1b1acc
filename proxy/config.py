"""Sidecar configuration: defaults < YAML file (--config) < environment (CDP_*) < command line."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any

import yaml

from .session.timeouts import validate as bad_timeout


class ConfigError(Exception):
    pass


def parse_hostport(value: str, default_port: int) -> tuple[str, int]:
    value = value.strip()
    if not value:
        raise ConfigError("empty address")
    if value.startswith("["):  # [v6]:port
        host, _, rest = value[1:].partition("]")
        port = rest.lstrip(":")
        return host, int(port) if port else default_port
    if value.count(":") == 1:
        host, port = value.split(":")
        try:
            return host, int(port)
        except ValueError:
            raise ConfigError(f"bad port in {value!r}") from None
    return value, default_port


@dataclass
class Config:
    """Every option here can be set in the YAML file under the same name, as CDP_<NAME> in the
    environment, or as --<name-with-dashes> on the command line."""

    listen: str = "127.0.0.1:9042"
    cassandra: str = "127.0.0.1:9042"
    admin: str = "127.0.0.1:9191"
    admin_token: str = field(default="", repr=False)
    # HOST:PORT of a token-free listener for /metrics and /health/* (Prometheus scrapes, kubelet
    # probes); empty: off, /metrics only on the admin port with the token.
    metrics: str = ""
    # Addresses clients should see. Empty: the address each client connected to.
    advertise: str = ""
    # Other sidecars that drivers may balance across, host:port comma-separated.
    peers: str = ""
    # Credentials the sidecar itself presents to Cassandra (otherwise the client's pass through).
    cassandra_username: str = ""
    cassandra_password: str = field(default="", repr=False)
    # Users the sidecar accepts from clients when it holds its own Cassandra credentials
    # ("user:password" comma-separated). Empty with sidecar credentials: clients need none.
    client_users: str = field(default="", repr=False)
    # Each secret may come from a file instead (whole content, trailing newline dropped; for
    # client_users one user:password per line or comma-separated), so it never shows in `ps`.
    admin_token_file: str = ""
    cassandra_password_file: str = ""
    client_users_file: str = ""
    # TLS towards clients.
    tls_cert: str = ""
    tls_key: str = ""
    tls_client_ca: str = ""  # set to require and verify client certificates
    # TLS towards Cassandra.
    cassandra_tls: bool = False
    cassandra_tls_ca: str = ""
    cassandra_tls_cert: str = ""
    cassandra_tls_key: str = ""
    cassandra_tls_verify_hostname: bool = False
    # Limits.
    max_connections: int = 10000
    max_in_flight_per_connection: int = 32000
    max_in_flight: int = 200000
    # Largest request frame (v3/v4) or envelope (v5) a client may send, and largest body a
    # compressed frame may announce. Cassandra's own limit (native_transport_max_frame_size and
    # native_transport_max_message_size, 16 MiB by default): keep it no higher than the cluster's.
    max_frame_bytes: int = 16 * 1024 * 1024
    connect_timeout: float = 5.0
    shutdown_grace: float = 30.0
    # Stalled clients (seconds, 0 turns one off): accept to READY/AUTH_SUCCESS (drivers give up on a
    # handshake after about 5 s); first byte of a frame to its last (drivers give up on a request
    # after 2 to 12 s); no frame and nothing in flight (drivers send a heartbeat after 30 s idle).
    handshake_timeout: float = 10.0
    partial_frame_timeout: float = 30.0
    idle_timeout: float = 120.0
    # Migration: the mapping file (tables, keys, phases) and where DynamoDB is.
    mapping: str = ""
    # Phase overrides at start, "ks.table=phase[,ks.table=phase]" (else the mapping's phases).
    phases: str = ""
    dynamodb_endpoint: str = ""  # default: the mapping's, else AWS's regional endpoint
    dynamodb_region: str = ""  # default: the mapping's, else the AWS configuration's
    dynamodb_max_connections: int = 64
    # The longest a client request that needs DynamoDB (or S3) waits on it, counted from its
    # arrival: keep it under the drivers' request timeout, so the client hears the sidecar's
    # documented error (or gets its fallback) instead of giving up on its own (docs/dual-write.md)
    dynamodb_deadline: float = 2.0
    # A row write newer than its whole item is one conditional UpdateItem (docs/dual-write.md).
    # Off: every write reads, merges and puts, which sidecars of an older version also understand.
    single_call_writes: bool = True
    # large_items: s3. Empty endpoint: AWS's regional S3; a custom one (MinIO, a VPC endpoint) is
    # addressed path-style. Empty region: DynamoDB's.
    s3_endpoint: str = ""
    s3_region: str = ""
    s3_max_connections: int = 32
    state_dir: str = ".cdp-state"  # journal and dead letters of queued writes
    queue_capacity: int = 10000
    queue_workers: int = 16
    backpressure_timeout: float = 2.0
    # Run-time phase control: "file:/dir" or "dynamodb:TABLE" (default: a directory under state_dir).
    control: str = ""
    sidecar_id: str = ""  # this sidecar in the fleet view; default hostname:listen-port
    control_poll_interval: float = 1.0
    control_heartbeat_interval: float = 5.0
    # verify: the percentage of reads also read from DynamoDB and compared, and how many such
    # comparisons may run at once (beyond that reads are not compared); both bound what
    # verification costs the client
    verify_sample: float = 10.0
    verify_concurrency: int = 16
    # dynamo_fallback: copy the partitions of a DynamoDB miss that Cassandra had into DynamoDB
    # (last write wins, timestamps and TTLs kept)
    fallback_read_repair: bool = False
    # assessment of the mapped tables from live traffic (proxy.assess, docs/assessment.md): the
    # percentage of requests per shape worked out in full (0: off), shapes kept per table, and the
    # seconds of rates kept for averages and peaks
    assess_sample: float = 1.0
    assess_max_shapes: int = 50
    assess_window: float = 86400.0
    log_level: str = "INFO"
    uvloop: bool = True

    # -- derived ---------------------------------------------------------------------------------
    @property
    def listen_addr(self) -> tuple[str, int]:
        return parse_hostport(self.listen, 9042)

    @property
    def admin_addr(self) -> tuple[str, int]:
        return parse_hostport(self.admin, 9191)

    @property
    def metrics_addr(self) -> tuple[str, int] | None:
        return parse_hostport(self.metrics, 9192) if self.metrics.strip() else None

    @property
    def cassandra_endpoints(self) -> list[tuple[str, int]]:
        return [parse_hostport(p, 9042) for p in self.cassandra.split(",") if p.strip()]

    @property
    def peer_endpoints(self) -> list[tuple[str, int]]:
        port = self.listen_addr[1]
        return [parse_hostport(p, port) for p in self.peers.split(",") if p.strip()]

    @property
    def client_user_table(self) -> dict[str, str]:
        out = {}
        for item in self.client_users.replace("\n", ",").split(","):
            if item.strip():
                user, sep, pw = item.strip().partition(":")
                if not sep:
                    raise ConfigError("client_users entries must look like user:password")
                out[user] = pw
        return out

    def redacted(self) -> dict[str, Any]:
        """The configuration with secrets masked, for /status and logs."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in SECRET_FIELDS and v:
                v = "***"
            out[f.name] = v
        return out

    def validate(self) -> None:
        self.listen_addr  # noqa: B018 - parse for errors
        self.admin_addr  # noqa: B018
        if (m := self.metrics_addr) is not None and m[1] == self.admin_addr[1] and (
                m[0] == self.admin_addr[0] or {m[0], self.admin_addr[0]} & {"0.0.0.0", "::", ""}):
            raise ConfigError("metrics and admin need different ports (the metrics port has no token)")
        if not self.cassandra_endpoints:
            raise ConfigError("at least one Cassandra endpoint is required (--cassandra)")
        self.peer_endpoints  # noqa: B018
        self.client_user_table  # noqa: B018
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("tls_cert and tls_key go together")
        for name in INPUT_FILES:
            path = getattr(self, name)
            if path and not os.path.isfile(path):
                problem = "is a directory" if os.path.isdir(path) else "no such file"
                raise ConfigError(f"{_flag(name)} {path}: {problem}")
        if self.log_level.upper() not in LOG_LEVELS:
            raise ConfigError(f"log_level must be one of {', '.join(LOG_LEVELS)}, got {self.log_level!r}")
        from .phases.control_store import parse_control

        try:
            parse_control(self.control, self.state_dir)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        if not 0.0 <= self.verify_sample <= 100.0 or self.verify_concurrency < 1:
            raise ConfigError("verify_sample must be a percentage (0-100) and verify_concurrency at least 1")
        if not 0.0 <= self.assess_sample <= 100.0 or self.assess_max_shapes < 1 or self.assess_window < 60:
            raise ConfigError("assess_sample must be a percentage (0-100, 0: off), assess_max_shapes at least 1 "
                              "and assess_window at least 60 seconds")
        if not 0 < self.dynamodb_deadline <= 600:
            raise ConfigError("dynamodb_deadline must be a number of seconds above 0 (and at most 600)")
        if self.control_poll_interval <= 0 or self.control_heartbeat_interval <= 0:
            raise ConfigError("control_poll_interval and control_heartbeat_interval must be positive")
        if not MIN_FRAME_BYTES <= self.max_frame_bytes <= MAX_FRAME_BYTES:
            raise ConfigError(
                f"max_frame_bytes must be between {MIN_FRAME_BYTES} and {MAX_FRAME_BYTES} "
                f"(got {self.max_frame_bytes})"
            )
        for name in ("handshake_timeout", "partial_frame_timeout", "idle_timeout"):
            if (why := bad_timeout(name, getattr(self, name))) is not None:
                raise ConfigError(why)
        if self.client_users and not self.cassandra_username:
            raise ConfigError("client_users needs cassandra_username/cassandra_password for the sidecar")


# A STARTUP and ordinary statements must fit; frame lengths are signed 32-bit on the wire.
MIN_FRAME_BYTES = 64 * 1024
MAX_FRAME_BYTES = 2**31 - 1
SECRET_FIELDS = frozenset({"admin_token", "cassandra_password", "client_users"})
# files the sidecar reads at start: a wrong path is named before anything else happens
INPUT_FILES = ("mapping", "tls_cert", "tls_key", "tls_client_ca", "cassandra_tls_ca", "cassandra_tls_cert",
               "cassandra_tls_key")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
ENV_PREFIX = "CDP_"


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def read_secret_file(path: str, what: str) -> str:
    """A secret kept in a file: its content without the trailing newline."""
    try:
        with open(path) as fh:
            return fh.read().rstrip("\r\n")
    except OSError as e:
        raise ConfigError(f"cannot read {what} {path}: {e.strerror}") from None


def env_secret(name: str, environ: dict[str, str] | None = None) -> str | None:
    """A secret from the environment for the commands without a Config: CDP_<NAME>, or the
    content of the file named by CDP_<NAME>_FILE."""
    env = os.environ if environ is None else environ
    value = env.get(ENV_PREFIX + name.upper())
    path = env.get(ENV_PREFIX + name.upper() + "_FILE")
    if value is not None or not path:
        return value
    return read_secret_file(path, ENV_PREFIX + name.upper() + "_FILE")


def _load_secret_files(cfg: Config) -> None:
    for name in sorted(SECRET_FIELDS):
        path = getattr(cfg, name + "_file")
        if not path:
            continue
        if getattr(cfg, name):
            raise ConfigError(f"{name} is set twice: give {_flag(name)} (or CDP_{name.upper()}) or "
                              f"{_flag(name + '_file')}, not both")
        setattr(cfg, name, read_secret_file(path, _flag(name + "_file")))


def startup_warnings(cfg: Config, secrets_on_command_line: Iterable[str] = ()) -> list[str]:
    """What an operator should hear about at start: secrets others can read, and clients that
    reach Cassandra with the sidecar's own credentials without any login."""
    out = []
    for name in sorted(secrets_on_command_line):
        out.append(f"{_flag(name)} was given on the command line, where any local user can read it (ps, "
                   f"/proc); use {_flag(name + '_file')} or CDP_{name.upper()} instead")
    for name in sorted(SECRET_FIELDS):
        path = getattr(cfg, name + "_file")
        if not path:
            continue
        try:
            st = os.stat(path)
        except OSError:
            continue
        mode = st.st_mode
        if mode & stat.S_IRWXO or (mode & stat.S_IRWXG and not _pod_group_only(path, st)):
            out.append(f"{_flag(name + '_file')} {path} can be read by other users (mode {stat.filemode(mode)}); "
                       "make it readable by the sidecar's user only")
    if cfg.cassandra_username and not cfg.client_users:
        out.append(f"clients are admitted without credentials and act as Cassandra user {cfg.cassandra_username!r}: "
                   "anyone who can reach the listen address can read and write what that user can; set "
                   "--client-users-file (or CDP_CLIENT_USERS) to require a login")
    return out


def _pod_group_only(path: str, st: os.stat_result) -> bool:
    """A file of a volume the kubelet writes (a Secret's: its directory holds the `..data` link of
    the kubelet's atomic writer) whose group is one of this process's: the pod's fsGroup, which the
    kubelet gives every file of such a volume and only the pod's containers run with."""
    if not os.path.islink(os.path.join(os.path.dirname(os.path.abspath(path)), "..data")):
        return False
    return st.st_gid == os.getegid() or st.st_gid in os.getgroups()


def _coerce(name: str, raw: Any, current: Any) -> Any:
    if isinstance(current, bool):
        if isinstance(raw, bool):
            return raw
        s = str(raw).strip().lower()
        if s in ("1", "true", "yes", "on"):
            return True
        if s in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{name}: expected a boolean, got {raw!r}")
    if isinstance(current, int):
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}: expected an integer, got {raw!r}") from None
    if isinstance(current, float):
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}: expected a number, got {raw!r}") from None
    if isinstance(raw, list):
        return ",".join(str(x) for x in raw)
    return str(raw)


def load_config(
    path: str | None = None,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> Config:
    cfg = Config()
    known = {f.name for f in fields(Config)}
    if path:
        try:
            with open(path) as fh:
                data = yaml.safe_load(fh) or {}
        except OSError as e:
            raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
        except yaml.YAMLError as e:  # its message spans lines: one line for the log
            raise ConfigError(f"{path}: invalid YAML: {' '.join(str(e).split())}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: top level must be a mapping")
        for k, v in data.items():
            key = str(k).replace("-", "_")
            if key not in known:
                raise ConfigError(f"{path}: unknown option {k!r} (see README, Configuration)")
            setattr(cfg, key, _coerce(f"{path}: {k}", v, getattr(cfg, key)))
    env = os.environ if environ is None else environ
    for name in known:
        ev = ENV_PREFIX + name.upper()
        if ev in env:
            setattr(cfg, name, _coerce(ev, env[ev], getattr(cfg, name)))
    for k, v in (overrides or {}).items():
        if v is not None and k in known:
            setattr(cfg, k, _coerce(f"--{k.replace('_', '-')}", v, getattr(cfg, k)))
    _load_secret_files(cfg)
    cfg.validate()
    return cfg
