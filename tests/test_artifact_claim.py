"""Artifacts kept before a run has an id: claimed by the stored run, or discarded with a try that is not the run."""

from __future__ import annotations

from monitor.app.artifact_claim import claim_artifacts, discard_artifacts


def pending(root, name: str) -> str:
    folder = root / "new-chat" / name
    folder.mkdir(parents=True)
    (folder / "trace.zip").write_bytes(b"zip")
    return f"new-chat/{name}/trace.zip"


def test_a_discarded_try_leaves_no_folder_and_nothing_outside_the_root_is_touched(tmp_path):
    root = tmp_path / "artifacts"
    kept, dropped = pending(root, "pending-aaa"), pending(root, "pending-bbb")
    outside = tmp_path / "pending-zzz"
    outside.mkdir()
    discard_artifacts(root, [dropped, "../pending-zzz/trace.zip", "new-chat/42/trace.zip"])
    assert not (root / "new-chat" / "pending-bbb").exists() and outside.exists()
    assert claim_artifacts(root, 7, [kept]) == ["new-chat/7/trace.zip"]
    assert (root / "new-chat" / "7" / "trace.zip").read_bytes() == b"zip"
