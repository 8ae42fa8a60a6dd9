"""The embedded database (no MONGO_URL): SecantusDB in the process, used without retryable
writes (adapters/mongo/connection.py says why); a MONGO_URL keeps the driver's default."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasktracker.bootstrap import Container, bootstrap
from tasktracker.settings import load_settings
from tests.support.settings import FAST_HASHING, TEST_JWT_SECRET


def test_the_embedded_server_is_written_to_without_retryable_writes(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    settings = load_settings(jwt_secret=TEST_JWT_SECRET, data_dir=tmp_path, **FAST_HASHING)
    container = bootstrap(settings)
    try:
        assert container.adapters.embedded_mongo is not None
        assert container.adapters.client.options.retry_writes is False
        container.adapters.db.probe.insert_one({"_id": 1})
        assert container.adapters.db.probe.find_one({"_id": 1}) == {"_id": 1}
    finally:
        container.close()


def test_a_mongo_url_keeps_the_drivers_default(container: Container):
    assert container.adapters.embedded_mongo is None
    assert container.adapters.client.options.retry_writes is True


@pytest.mark.parametrize("flag", ["false", "true"])
def test_a_mongo_url_that_names_retry_writes_is_followed(make_container, settings, flag: str):
    sep = "&" if "?" in (settings.mongo_url or "") else "?"
    url = f"{settings.mongo_url}{sep}retryWrites={flag}"
    named = settings.model_copy(update={"mongo_url": url})
    assert make_container(named).adapters.client.options.retry_writes is (flag == "true")
