"""A version's stamp: which files under its directory count, and which are left alone."""

from __future__ import annotations

from pathlib import Path

from gateway.inference.version_stamps import version_stamp


def version_directory(tmp_path: Path) -> Path:
    directory = tmp_path / "model" / "1"
    directory.mkdir(parents=True)
    (directory / "model.onnx").write_bytes(b"graph")
    return directory


def rewritten(path: Path, data: bytes) -> None:
    """Replaced by rename, as a deployment writes, so the inode changes whatever the clock does."""
    staging = path.with_name(f".{path.name}.tmp")
    staging.write_bytes(data)
    staging.replace(path)


def test_a_file_in_a_subdirectory_counts_and_a_hidden_one_does_not(tmp_path: Path) -> None:
    directory = version_directory(tmp_path)
    (directory / "weights").mkdir()
    before = version_stamp(directory / "model.onnx")
    (directory / ".upload").mkdir()
    (directory / ".upload" / "model.onnx.data").write_bytes(b"partial")
    (directory / ".model.onnx.swp").write_bytes(b"editor")
    assert version_stamp(directory / "model.onnx") == before
    (directory / "weights" / "model.onnx.data").write_bytes(b"weights")
    after = version_stamp(directory / "model.onnx")
    assert after is not None
    assert [entry[0] for entry in after] == ["model.onnx", "weights/model.onnx.data"]


def test_a_missing_model_file_is_no_stamp(tmp_path: Path) -> None:
    directory = version_directory(tmp_path)
    (directory / "model.onnx").unlink()
    (directory / "model.onnx.data").write_bytes(b"weights")
    assert version_stamp(directory / "model.onnx") is None


def test_a_symlinked_directory_is_not_walked(tmp_path: Path) -> None:
    # Given a version directory with a link to a directory outside it
    directory = version_directory(tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (directory / "shared").symlink_to(outside, target_is_directory=True)
    before = version_stamp(directory / "model.onnx")
    # When a file appears there
    (outside / "model.onnx.data").write_bytes(b"weights")
    # Then the version's stamp is as it was
    assert version_stamp(directory / "model.onnx") == before


def test_a_symlinked_model_file_is_stamped_by_its_target(tmp_path: Path) -> None:
    directory = version_directory(tmp_path)
    target = tmp_path / "blobs" / "model.onnx"
    target.parent.mkdir()
    target.write_bytes(b"graph")
    (directory / "model.onnx").unlink()
    (directory / "model.onnx").symlink_to(target)
    before = version_stamp(directory / "model.onnx")
    rewritten(target, b"another graph")
    assert version_stamp(directory / "model.onnx") != before
