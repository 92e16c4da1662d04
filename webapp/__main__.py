"""``python -m webapp``: validate settings, start an embedded Redis if none is configured, serve."""

from __future__ import annotations

import logging
import logging.config
import os
import secrets
import shutil
import signal
import sys
import tempfile
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import uvicorn

from webapp.embedded import SUPERVISOR_PID_VAR, EmbeddedRedis
from webapp.logs import log_config
from webapp.settings import Settings, SettingsError

METRICS_DIR_VAR = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus-client when first imported (in the workers)


def metrics_directory(environ: MutableMapping[str, str]) -> Path | None:
    """The multi-process metrics directory, emptied; created here (and removed at exit) unless configured.

    Returns the directory this process created, or None when the operator gave one (it is only emptied).
    """
    given = environ.get(METRICS_DIR_VAR, "").strip()
    if given:
        directory = Path(given)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):  # counts of an earlier run would be added to ours
            stale.unlink()
        return None
    created = Path(tempfile.mkdtemp(prefix="session-queue-metrics-"))
    environ[METRICS_DIR_VAR] = str(created)
    return created


log = logging.getLogger("webapp")


def main(environ: MutableMapping[str, str] = os.environ) -> int:
    try:
        settings = Settings.from_env(environ)
    except SettingsError as exc:
        print(f"session-queue: invalid configuration: {exc}", file=sys.stderr)
        return 2
    logging_config = log_config(settings.log_format, access_log=settings.access_log, root_path=settings.root_path)
    logging.config.dictConfig(logging_config)
    embedded: EmbeddedRedis | None = None
    if settings.redis_url is None:
        try:
            embedded = EmbeddedRedis.start()
        except RuntimeError as exc:
            print(f"session-queue: {exc}", file=sys.stderr)
            return 2
        log.warning(
            "no REDIS_URL or REDIS_ADDR: started an embedded %s at %s — for development only, "
            "its data is gone when this process stops",
            os.path.basename(embedded.binary),
            embedded.url,
        )
        environ["REDIS_URL"] = embedded.url
        if settings.admin_token is None:
            # A development run gets a console too; the token is printed once, here, never stored.
            environ["ADMIN_TOKEN"] = secrets.token_urlsafe(32)
            log.warning(
                "no ADMIN_TOKEN: generated one for this run; the operator console is on "
                "http://localhost:%d%s/admin — log in with %s",
                settings.port,
                settings.root_path,
                environ["ADMIN_TOKEN"],
            )
    if settings.secret_generated:
        log.warning("no JWT_SECRET: generated one for this run; tickets will not survive a restart")
        environ["JWT_SECRET"] = settings.jwt_secret.decode()
    if settings.pass_keys_generated:
        log.warning(
            "no PASS_KEYS_DIR: generated pass signing key %s for this run (shared by its workers); passes will "
            "not verify after a restart — see docs/passes.md to configure keys",
            settings.pass_keys.signing.kid,
        )
        environ["PASS_KEY"] = settings.pass_keys.signing.pem().decode()
    # Workers re-read the environment in create_app(); share the generated values with them.
    own_metrics_dir = metrics_directory(environ) if settings.workers > 1 else None
    shared = ("REDIS_URL", "JWT_SECRET", "ADMIN_TOKEN", METRICS_DIR_VAR, "PASS_KEY")
    os.environ.update({k: environ[k] for k in shared if k in environ})
    if settings.workers > 1:
        os.environ[SUPERVISOR_PID_VAR] = str(os.getpid())
    log.info(
        "waiting room on http://%s:%d%s/",
        "localhost" if settings.host in ("127.0.0.1", "0.0.0.0") else settings.host,  # noqa: S104
        settings.port,
        settings.root_path,
    )
    try:
        serve(settings, logging_config)
    finally:
        if embedded is not None:
            embedded.stop()
        if own_metrics_dir is not None:
            shutil.rmtree(own_metrics_dir, ignore_errors=True)
    return 0


def serve(settings: Settings, logging_config: dict[str, Any]) -> None:
    """Run the app under uvicorn until it is stopped (SIGTERM, Ctrl-C).

    Proxy headers (``TRUSTED_PROXIES``) and access lines (``ACCESS_LOG``) are the app's own
    (``create_app``), so uvicorn is asked to do neither.
    """
    # uvicorn re-raises the SIGTERM it handled once it has shut down gracefully; with this handler
    # in place that returns here instead of killing us (exit 0, embedded server stopped, logs flushed).
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    uvicorn.run(
        "webapp.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        proxy_headers=False,  # applied by the app itself (TRUSTED_PROXIES)
        timeout_graceful_shutdown=10,
        log_level="info",
        log_config=logging_config,
        access_log=False,  # written by the app (webapp.logs.AccessLog), only the lines ACCESS_LOG wants
    )


if __name__ == "__main__":
    sys.exit(main())
