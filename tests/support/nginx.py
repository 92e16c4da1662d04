"""A real nginx for tests: in the foreground, on a free 127.0.0.1 port, with a temporary prefix and config.

The shipped configuration (``deploy/nginx/waiting-room.conf.template``) is rendered with the test's ports and
included in a minimal main configuration whose pid file, error log and temporary directories all live in the
test's directory. ``master_process off`` keeps it one process (no privilege drop to a user that could not
read a test directory), stopped by its pid.
"""

from __future__ import annotations

import shutil
import signal
import socket
import string
import subprocess
from collections.abc import Mapping
from pathlib import Path

from tests.support.app_process import ROOT
from tests.support.ports import free_port
from tests.support.waiting import wait_until_sync

TEMPLATE = ROOT / "deploy" / "nginx" / "waiting-room.conf.template"
TEMPLATE_PLACEHOLDERS = ("LISTEN", "ROOM_UPSTREAM", "SHOP_UPSTREAM")

MAIN_CONFIG = """\
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    include {prefix}/site.conf;
}}
"""


def nginx_binary() -> str:
    """Debian's nginx (in /usr/sbin, often not on a user's PATH); fail with a hint when it is missing."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise AssertionError("nginx not found: run `scripts/setup --test`, which installs it")
    return found


def render(template: str, values: Mapping[str, str]) -> str:
    """Fill ``${NAME}`` placeholders as ``envsubst '${NAME} ...'`` would; nginx's own ``$variables`` stay."""
    missing = [name for name in TEMPLATE_PLACEHOLDERS if f"${{{name}}}" in template and name not in values]
    if missing:
        raise ValueError(f"no value for {', '.join(missing)}")
    return string.Template(template).safe_substitute(values)


def site_config(room_port: int, shop_port: int, port: int) -> str:
    """The shipped template for the room and the shop on these loopback ports, listening on ``port``."""
    return render(
        TEMPLATE.read_text(),
        {
            "LISTEN": f"127.0.0.1:{port}",
            "ROOM_UPSTREAM": f"127.0.0.1:{room_port}",
            "SHOP_UPSTREAM": f"127.0.0.1:{shop_port}",
        },
    )


class Nginx:
    """``nginx -g 'daemon off;'`` with ``site`` (an http-level config) under ``directory``, on ``port``."""

    def __init__(self, site: str, directory: Path, port: int) -> None:
        self.site = site
        self.prefix = directory
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None

    @classmethod
    def for_origin(cls, room_port: int, shop_port: int, directory: Path) -> Nginx:
        """The shipped configuration: the room (ROOT_PATH=/queue) under /queue/, the shop at /."""
        port = free_port()
        return cls(site_config(room_port, shop_port, port), directory, port)

    def command(self) -> list[str]:
        config = self.prefix / "nginx.conf"
        return [nginx_binary(), "-p", str(self.prefix), "-e", str(self.prefix / "error.log"), "-c", str(config)]

    def write_config(self) -> None:
        for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.prefix / "tmp" / name).mkdir(parents=True, exist_ok=True)
        (self.prefix / "site.conf").write_text(self.site)
        (self.prefix / "nginx.conf").write_text(MAIN_CONFIG.format(prefix=self.prefix))

    def check(self) -> None:
        """``nginx -t`` on the configuration: fails with nginx's own message."""
        self.write_config()
        result = subprocess.run([*self.command(), "-t", "-q"], capture_output=True, text=True, timeout=30, check=False)
        if result.returncode != 0:
            raise AssertionError(f"nginx -t refused the configuration:\n{result.stderr}{self.log()}")

    def start(self, timeout: float = 15.0) -> Nginx:
        """Start it in the foreground and wait until its port accepts connections."""
        self.write_config()
        with (self.prefix / "stderr.log").open("ab") as stderr:
            self.process = subprocess.Popen(
                [*self.command(), "-g", "daemon off;"],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_until_sync(self._listening_or_exited, timeout, what=f"nginx listening on port {self.port}")
        except AssertionError as late:
            self.stop()
            raise AssertionError(f"{late}:\n{self.log()}") from None
        if self.process.poll() is not None:
            code = self.process.returncode
            self.stop()
            raise AssertionError(f"nginx exited with {code}:\n{self.log()}")
        return self

    def _listening_or_exited(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            return True
        with socket.socket() as probe:
            probe.settimeout(0.5)
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self, timeout: float = 10.0) -> None:
        """SIGQUIT (graceful) by pid, SIGKILL past ``timeout``."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def log(self) -> str:
        """The end of nginx's error log and of what it printed."""
        texts = [
            path.read_text(errors="replace")[-3000:]
            for path in (self.prefix / "error.log", self.prefix / "stderr.log")
            if path.exists()
        ]
        return "\n".join(texts)

    def url(self, path: str) -> str:
        return self.base_url + path
