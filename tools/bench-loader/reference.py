"""The same pipeline with torchvision, as the yardstick for cerebra-bench-loader.

ImageFolder + DataLoader: decode (PIL) -> Resize(224) -> RandomHorizontalFlip ->
RandomRotation(15) -> ToTensor -> Normalize(ImageNet) -> batch, two epochs per
worker count (torchvision has no cache, so its two epochs cost the same).
Each worker count runs as a beginner writes it and at its best: PIL's
reduced-size JPEG decode (Image.draft, the counterpart of Cerebra's reduced
decode), which a user who knows PIL adds to the ImageFolder loader.
Run with Debian's interpreter: /usr/bin/python3 reference.py DATA_ROOT [WORKERS] [BATCH].
"""
import os
import sys
import tempfile
import time

import torch
from torch.utils.data import DataLoader
from torchvision import datasets, transforms


def draft_loader(size):
    """ImageFolder's loader, decoding JPEGs at the smallest DCT scale that keeps `size`."""
    from PIL import Image

    def load(path):
        with open(path, "rb") as f:
            image = Image.open(f)
            image.draft("RGB", size)
            return image.convert("RGB")
    return load


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "../shared/datasets/br35h"
    workers = [int(w) for w in (sys.argv[2] if len(sys.argv) > 2 else "0,1,2").split(",")]
    batch = int(sys.argv[3]) if len(sys.argv) > 3 else 32
    torch.set_num_threads(1)
    # Only yes/ and no/: pred/ is unlabelled and would become a third class.
    with tempfile.TemporaryDirectory() as view:
        for name in ("no", "yes"):
            os.symlink(os.path.abspath(os.path.join(root, name)), os.path.join(view, name))
        pipeline = transforms.Compose([
            transforms.Resize((224, 224)),
            transforms.RandomHorizontalFlip(),
            transforms.RandomRotation(15),
            transforms.ToTensor(),
            transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        ])
        plain = datasets.ImageFolder(view, transform=pipeline)
        best = datasets.ImageFolder(view, transform=pipeline, loader=draft_loader((224, 224)))
        print(f"torchvision {len(plain)} images, batch {batch}, torch {torch.__version__}", flush=True)
        for w in workers:
            for mode, data in (("beginner", plain), ("best", best)):
                extra = {"persistent_workers": True, "prefetch_factor": 2} if w > 0 else {}
                loader = DataLoader(data, batch_size=batch, shuffle=True, num_workers=w, **extra)
                rates = []
                for epoch in range(2):
                    start = time.perf_counter()
                    count = 0
                    for images, labels in loader:
                        count += images.shape[0]
                    rates.append(count / (time.perf_counter() - start))
                print(f"torchvision workers={w} mode={mode} epoch1_images_per_s={rates[0]:.1f} "
                      f"epoch2_images_per_s={rates[1]:.1f}", flush=True)
                del loader


if __name__ == "__main__":
    main()
