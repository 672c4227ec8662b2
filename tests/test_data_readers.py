"""Every torchvision reader of the paper grids (MNIST, CIFAR-10, LSUN, CelebA, image-folder) on a
tiny data set the test writes in that reader's real on-disk format: idx files, CIFAR pickle
batches, LMDB databases of encoded images, a CelebA folder with its five annotation files, class
folders. Only the MD5 checks of CIFAR-10's and CelebA's real files are patched (to existence
checks); the reading is torchvision's own.

Each image is one flat grey level, so after resize, crop and normalisation every pixel must be
``level / 127.5 - 1`` exactly: the batch says which images were read and that they were read right.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from wganbench.data import load_dataset
from wganbench.data.base import epoch_indices

SIZE = 8  # written images are 12 px (16 for LSUN and CelebA): the readers resize and crop to 8
TRAIN, TEST = 6, 4


def levels(split: str) -> list[int]:
    """The grey level of each image of a split: all different, so an image is known by its level."""
    start = 10 if split == "train" else 150
    return [start + 17 * i for i in range(TRAIN if split == "train" else TEST)]


def png(level: int, size: int, mode: str = "RGB", fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    options = {"lossless": True} if fmt == "WEBP" else {}
    Image.new(mode, (size, size), level if mode == "L" else (level,) * 3).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def write_mnist(root: Path) -> None:
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for split, prefix in (("train", "train"), ("test", "t10k")):
        grey = levels(split)
        images = np.stack([np.full((12, 12), level, np.uint8) for level in grey])
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, len(grey), 12, 12) + images.tobytes())
        labels = np.arange(len(grey), dtype=np.uint8) % 10
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, len(grey)) + labels.tobytes())


def write_cifar10(root: Path) -> None:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    train = levels("train")
    per_batch = [train[:2], *[[level] for level in train[2:]]]  # the five train batches, in order
    for name, grey in zip(names, [*per_batch, levels("test")]):
        data = np.stack([np.full(3 * 32 * 32, level, np.uint8) for level in grey]) if grey else np.zeros((0, 3072), np.uint8)
        with (folder / name).open("wb") as handle:
            pickle.dump({"data": data, "labels": [level % 10 for level in grey]}, handle)
    with (folder / "batches.meta").open("wb") as handle:
        pickle.dump({"label_names": [f"class{i}" for i in range(10)]}, handle)


def write_lsun(root: Path) -> None:
    import lmdb

    for split, name in (("train", "bedroom_train_lmdb"), ("test", "bedroom_val_lmdb")):
        env = lmdb.open(str(root / name), map_size=1 << 24)
        with env.begin(write=True) as txn:
            for i, level in enumerate(levels(split)):
                txn.put(f"{i:08d}".encode(), png(level, 16, fmt="WEBP" if i % 2 else "PNG"))
        env.close()


def write_celeba(root: Path) -> None:
    folder = root / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True)
    entries = [(f"{i + 1:06d}.jpg", split, level) for split in ("train", "test") for i, level in
               enumerate(levels(split), start=0 if split == "train" else TRAIN)]
    for name, _, level in entries:
        Image.new("RGB", (16, 16), (level,) * 3).save(folder / "img_align_celeba" / name, quality=100)
    code = {"train": 0, "test": 2}
    (folder / "list_eval_partition.txt").write_text("".join(f"{n} {code[s]}\n" for n, s, _ in entries))
    (folder / "identity_CelebA.txt").write_text("".join(f"{n} {i + 1}\n" for i, (n, _, _) in enumerate(entries)))
    count = f"{len(entries)}\n"
    (folder / "list_attr_celeba.txt").write_text(count + "Smiling Young\n" + "".join(f"{n} 1 -1\n" for n, _, _ in entries))
    (folder / "list_bbox_celeba.txt").write_text(count + "image_id x_1 y_1 width height\n"
                                                 + "".join(f"{n} 0 0 16 16\n" for n, _, _ in entries))
    marks = "lefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y rightmouth_x rightmouth_y\n"
    (folder / "list_landmarks_align_celeba.txt").write_text(count + marks + "".join(f"{n}" + " 8" * 10 + "\n" for n, _, _ in entries))


def write_image_folder(root: Path) -> None:
    for split in ("train", "test"):
        for i, level in enumerate(levels(split)):
            folder = root / split / "bedrooms"  # one class: ImageFolder reads files in name order
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{i:03d}.png").write_bytes(png(level, 12))


def existence_only(path: str, md5: str | None = None) -> bool:
    return os.path.isfile(path)


WRITERS: dict[str, tuple[Callable[[Path], None], int, str | None]] = {
    # name: (writer, channels, the torchvision module whose MD5 check alone is patched)
    "mnist": (write_mnist, 1, None),
    "cifar10": (write_cifar10, 3, "torchvision.datasets.cifar"),
    "lsun-bedroom": (write_lsun, 3, None),
    "celeba": (write_celeba, 3, "torchvision.datasets.celeba"),
    "image-folder": (write_image_folder, 3, None),
}


def written(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The data root of ``name``'s tiny set, written in its format (the real files' MD5 checks patched)."""
    write, _, md5_module = WRITERS[name]
    root = tmp_path / "data"
    root.mkdir()
    write(root)
    if md5_module is not None:
        monkeypatch.setattr(f"{md5_module}.check_integrity", existence_only)
    return root


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_reader_loads_its_on_disk_format(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    channels = WRITERS[name][1]
    root = written(name, tmp_path, monkeypatch)
    monkeypatch.chdir(tmp_path)  # LSUN's key cache must land beside the data, not here
    data = load_dataset(name, image_size=SIZE, data_root=str(root), workers=0)

    expected = {split: torch.tensor(levels(split), dtype=torch.float32) / 127.5 - 1 for split in ("train", "test")}
    batch_size = 4
    streamed = data.batches(batch_size, seed=3, start=0)
    for index in range(3):  # crosses an epoch boundary: 6 train images, batches of 4
        batch = data.batch(batch_size, seed=3, index=index)
        assert torch.equal(batch, next(streamed)), index
        assert batch.shape == (batch_size, channels, SIZE, SIZE)
        flat = batch.flatten(1)
        assert torch.equal(flat, flat[:, :1].expand_as(flat)), "each image is one grey level"
        chosen = expected["train"][epoch_indices(TRAIN, batch_size, 3, index)]
        assert torch.allclose(flat[:, 0], chosen, atol=1.5 / 127.5), (flat[:, 0], chosen)  # JPEG: +-1 level

    test = data.reference("test")
    assert len(test.samples) == TEST
    assert sorted(test.samples.flatten(1)[:, 0].tolist()) == pytest.approx(sorted(expected["test"].tolist()), abs=1.5 / 127.5)
    assert len(data.reference("train", count=3, seed=0).samples) == 3
    labelled = name in ("mnist", "cifar10")
    assert (test.labels is not None) == labelled
    if name == "lsun-bedroom":
        assert not list(tmp_path.glob("_cache_*")) and list(root.glob("_cache_*"))


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_the_uint8_cache_gives_the_readers_batches_bit_for_bit(name: str, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture) -> None:
    from wganbench.cli import main

    root = written(name, tmp_path, monkeypatch)
    args = ["data-cache", "--dataset", name, "--image-size", str(SIZE), "--data-root", str(root),
            "--out", str(tmp_path / "cache"), "--workers", "0"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["counts"] == {"train": TRAIN, "test": TEST}
    reader = load_dataset(name, image_size=SIZE, data_root=str(root), workers=0)
    cached = load_dataset(name, image_size=SIZE, data_root=str(root), data_cache=str(tmp_path / "cache"))
    assert type(cached).__name__ == "CachedImages" and cached.sample_shape == reader.sample_shape
    for index in range(3):
        assert torch.equal(cached.batch(4, seed=5, index=index), reader.batch(4, seed=5, index=index)), index
    for split, count in (("test", None), ("train", 3)):
        a, b = cached.reference(split, count=count, seed=2), reader.reference(split, count=count, seed=2)
        assert torch.equal(a.samples, b.samples)
        assert (a.labels is None and b.labels is None) or torch.equal(a.labels, b.labels)


def test_a_missing_or_foreign_cache_is_a_one_line_error(tmp_path: Path) -> None:
    from wganbench.registry import ConfigError

    root = tmp_path / "data"
    root.mkdir()
    write_image_folder(root)
    with pytest.raises(ConfigError, match=r"config key 'data_cache': \S+image-folder-8px holds no complete cache"):
        load_dataset("image-folder", image_size=SIZE, data_root=str(root), data_cache=str(tmp_path / "none"))
