"""The embedded MongoDB-wire server (SecantusDB) used when MONGO_URL is not set."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


class EmbeddedMongo:
    """Runs SecantusDB in this process, keeping its data under `storage_path`."""

    def __init__(self, storage_path: Path) -> None:
        try:
            from secantus import SecantusDBServer
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            raise RuntimeError(
                "MONGO_URL is not set and the embedded database is not installed: "
                "install the extra: pip install 'tasktracker[embedded]', or set MONGO_URL"
            ) from exc
        storage_path.mkdir(parents=True, exist_ok=True)
        self._server = SecantusDBServer(
            host="127.0.0.1",
            port=0,
            storage_path=str(storage_path),
            enable_test_commands=False,
            cache_size="256M",
        )

    def start(self) -> str:
        self._server.start()
        log.info("embedded MongoDB-wire server listening on %s", self._server.uri)
        return self._server.uri

    def stop(self) -> None:
        self._server.stop()
