"""docs/settings.md is what the settings models say today (`python -m scripts.settings_doc`)."""

from __future__ import annotations

from coordinator.settings import Settings
from scripts import settings_doc
from worker.settings import WorkerSettings


def test_the_settings_doc_is_the_settings_models() -> None:
    written = settings_doc.DOC.read_text()

    assert written == settings_doc.render(), "run: python -m scripts.settings_doc"
    for model in (Settings, WorkerSettings):
        prefix = str(model.model_config.get("env_prefix", ""))
        for name, field in model.model_fields.items():
            assert f"`{prefix}{name.upper()}`" in written
            assert field.description, f"{prefix}{name.upper()} has no description"
    for name in ("DML_DEVNET_DIR", "DML_IPFS_DIR", "DML_SUPERLINK_TLS", "DML_TRUSTED_PROXIES"):
        assert f"`{name}`" in written
