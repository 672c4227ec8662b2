"""Images per second from each real-data reader, against what one GPU step consumes.

    python benchmarks/bench_readers.py [--images 1500] [--workers 2] [--sizes 32,64] [--tflops 60]

For each on-disk format (CIFAR-10 pickles of 32 px images; LSUN: an LMDB of 256 px WEBP bedrooms;
CelebA: a folder of 178x218 JPEGs with its annotation files; image-folder: 256 px JPEGs) it writes
a synthetic set of ``--images`` random-texture images in that format, then times

- the torchvision reader as training uses it (``batches``: one persistent DataLoader, PIL decode,
  resize and crop, ``--workers`` processes), and
- the decoded uint8 cache (``wganbench data-cache``; memory-mapped, one fancy index per batch),

at each image size, for batches of 64. The GPU side: the FLOPs of one generator iteration of the
WGAN DCGAN pair at n_critic 5 (torch's FLOP counter on the real step), divided into ``--tflops``
sustained TFLOP/s (H100/H200 fp32 without tensor cores: ~60), gives the real images one GPU
consumes per second. The table prints both; benchmarks/README.md records a run.
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

BATCH = 64


def texture(rng: np.random.Generator, height: int, width: int) -> Image.Image:
    """A random smooth colour texture (JPEG/WEBP sizes like photographs, not like flat colour)."""
    small = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((width, height), Image.BILINEAR)


def write_cifar(root: Path, count: int, rng: np.random.Generator) -> None:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        n = count // 5 if name != "test_batch" else 64
        data = np.stack([np.asarray(texture(rng, 32, 32)).transpose(2, 0, 1).reshape(-1) for _ in range(n)])
        with (folder / name).open("wb") as handle:
            pickle.dump({"data": data, "labels": [0] * n}, handle)
    with (folder / "batches.meta").open("wb") as handle:
        pickle.dump({"label_names": [f"c{i}" for i in range(10)]}, handle)


def write_lsun(root: Path, count: int, rng: np.random.Generator) -> None:
    import lmdb

    for name, n in (("bedroom_train_lmdb", count), ("bedroom_val_lmdb", 64)):
        env = lmdb.open(str(root / name), map_size=1 << 31)
        with env.begin(write=True) as txn:
            for i in range(n):
                buffer = io.BytesIO()
                texture(rng, 256, 341).save(buffer, format="WEBP", quality=75)
                txn.put(f"{i:08d}".encode(), buffer.getvalue())
        env.close()


def write_celeba(root: Path, count: int, rng: np.random.Generator) -> None:
    folder = root / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True)
    names = [f"{i + 1:06d}.jpg" for i in range(count + 64)]
    for name in names:
        texture(rng, 218, 178).save(folder / "img_align_celeba" / name, quality=90)
    split = ["0"] * count + ["2"] * 64
    (folder / "list_eval_partition.txt").write_text("".join(f"{n} {s}\n" for n, s in zip(names, split)))
    (folder / "identity_CelebA.txt").write_text("".join(f"{n} 1\n" for n in names))
    head = f"{len(names)}\n"
    (folder / "list_attr_celeba.txt").write_text(head + "Smiling\n" + "".join(f"{n} 1\n" for n in names))
    (folder / "list_bbox_celeba.txt").write_text(head + "image_id x_1 y_1 width height\n" + "".join(f"{n} 0 0 1 1\n" for n in names))
    (folder / "list_landmarks_align_celeba.txt").write_text(head + "a b\n" + "".join(f"{n} 1 1\n" for n in names))


def write_image_folder(root: Path, count: int, rng: np.random.Generator) -> None:
    for split, n in (("train", count), ("test", 64)):
        folder = root / split / "all"
        folder.mkdir(parents=True)
        for i in range(n):
            texture(rng, 256, 256).save(folder / f"{i:06d}.jpg", quality=90)


FORMATS = {"cifar10": write_cifar, "lsun-bedroom": write_lsun, "celeba": write_celeba, "image-folder": write_image_folder}


def images_per_second(stream, batches: int) -> float:
    next(stream)  # start-up (workers, first decode) is not throughput
    started = time.perf_counter()
    for _ in range(batches):
        next(stream)
    return batches * BATCH / (time.perf_counter() - started)


def reader_rate(name: str, size: int, root: Path, workers: int, batches: int) -> float:
    from wganbench.data import load_dataset

    reader = load_dataset(name, image_size=size, data_root=str(root), workers=workers)
    return images_per_second(reader.batches(BATCH, seed=0), batches)


def gpu_images_per_second(image_size: int, tflops: float) -> tuple[float, float]:
    """(GFLOPs of one generator iteration at n_critic 5, real images per second at ``tflops``)."""
    from torch.utils.flop_counter import FlopCounterMode

    from wganbench.config import resolve_cell
    from wganbench.objectives import Batch, build_objective
    from wganbench.train import build_models

    cfg = resolve_cell({"objective": "wgan", "arch": "dcgan", "dataset": "digits", "iterations": 1},
                       overrides={"image_size": image_size, "batch_size": BATCH})
    objective = build_objective(cfg)
    generator, critic = build_models(cfg, (3, image_size, image_size), objective, torch.device("cpu"))
    real = torch.randn(BATCH, 3, image_size, image_size)
    with FlopCounterMode(display=False) as counter:
        for _ in range(5):  # critic steps
            with torch.no_grad():
                fake = generator(torch.randn(BATCH, cfg["nz"]))
            loss, _ = objective.loss.critic_loss(critic, Batch(real, [fake]))
            loss.backward()
        loss = objective.loss.generator_loss(critic, Batch(real, [generator(torch.randn(BATCH, cfg["nz"]))]))
        loss.backward()
    flops = counter.get_total_flops()
    return flops / 1e9, 5 * BATCH * tflops * 1e12 / flops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sizes", default="32,64")
    parser.add_argument("--tflops", type=float, default=60.0, help="sustained fp32 TFLOP/s of the GPU")
    parser.add_argument("--formats", default=",".join(FORMATS))
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    from test_data_readers import existence_only  # only the MD5 checks of the real files are patched

    import torchvision.datasets.celeba as celeba
    import torchvision.datasets.cifar as cifar

    cifar.check_integrity = celeba.check_integrity = existence_only
    from wganbench.data import load_dataset
    from wganbench.data.cache import build_cache, cache_folder

    print(f"torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs, {args.images} images, batches of {BATCH}")
    need = {size: gpu_images_per_second(size, args.tflops) for size in sizes}
    for size, (gflops, rate) in need.items():
        print(f"GPU: WGAN DCGAN pair at {size} px, n_critic 5: {gflops:.1f} GFLOP per generator iteration "
              f"-> {rate:,.0f} real images/s at {args.tflops:g} TFLOP/s")
    print("| format | px | torchvision reader img/s | uint8 cache img/s | decode once s | GPU needs img/s |")
    print("|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.formats.split(","):
            root = Path(tmp) / name
            root.mkdir()
            FORMATS[name](root, args.images, rng)
            for size in sizes:
                batches = max(3, args.images // BATCH - 2)
                read = reader_rate(name, size, root, args.workers, batches)
                gc.collect()  # LMDB opens an environment once per process: the timed reader's is closed
                source = load_dataset(name, image_size=size, data_root=str(root), workers=args.workers)
                manifest = build_cache(source, cache_folder(Path(tmp) / "cache", name, size))
                del source
                gc.collect()
                cached = load_dataset(name, image_size=size, data_root=str(root),
                                      data_cache=str(Path(tmp) / "cache"))
                fast = images_per_second(cached.batches(BATCH, seed=0), 400)
                print(f"| {name} | {size} | {read:,.0f} | {fast:,.0f} | {manifest['decode_seconds']:.1f} "
                      f"| {need[size][1]:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
