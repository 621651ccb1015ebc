"""Python torch reference for cerebra-bench-train and end-to-end CNN training.

  steps MODEL SIZE BATCH THREADS STEPS [best]   compute-only optimizer steps on random tensors
  e2e SPLIT_CSV EPOCHS THREADS WORKERS [best]   the study's CNN trained on the train rows of a
                                                Cerebra split.csv (decode -> resize 64 -> flip ->
                                                tensor), evaluated on its test rows

"best" is PyTorch as a user who knows its CPU settings runs it: channels-last
model and inputs, bf16 autocast where the processor has native bf16
(avx512_bf16 or amx_bf16 in /proc/cpuinfo), and for e2e PIL's reduced-size JPEG
decode (Image.draft). run.sh adds tuned glibc malloc settings and tries its
thread and worker counts.

Run with Debian's interpreter: /usr/bin/python3 reference.py ...
"""
import csv
import os
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Cnn(nn.Module):
    """The study's proposed CNN, initialised as Cerebra's cnn plugin is."""

    def __init__(self, classes, size=64):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3)
        self.conv2 = nn.Conv2d(32, 32, 3)
        self.conv3 = nn.Conv2d(32, 64, 3)
        side = size
        for _ in range(3):
            side = (side - 2) // 2
        self.fc1 = nn.Linear(64 * side * side, 64)
        self.dropout = nn.Dropout(0.3)
        self.fc2 = nn.Linear(64, classes)
        nn.init.xavier_uniform_(self.conv1.weight)
        nn.init.kaiming_uniform_(self.conv2.weight, nonlinearity="relu")
        nn.init.kaiming_uniform_(self.conv3.weight, nonlinearity="relu")
        nn.init.xavier_uniform_(self.fc1.weight)
        nn.init.xavier_uniform_(self.fc2.weight)
        for layer in (self.conv1, self.conv2, self.conv3, self.fc1, self.fc2):
            nn.init.zeros_(layer.bias)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.max_pool2d(F.relu(self.conv3(x)), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc2(self.dropout(x))


def allocator():
    """'retain' when the environment gives glibc malloc settings (run.sh sets the
    ones Cerebra's [run] allocator = "retain" uses), else 'system'."""
    return "retain" if "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", "") else "system"


def native_bf16():
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def mode_settings(best):
    """(channels_last, autocast context factory, mode name) for a run."""
    import contextlib
    if not best:
        return False, contextlib.nullcontext, "beginner"
    if native_bf16():
        return True, lambda: torch.cpu.amp.autocast(dtype=torch.bfloat16), "best"
    return True, contextlib.nullcontext, "best"


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def steps(model_name, size, batch, threads, count, best=False):
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    channels_last, autocast, mode = mode_settings(best)
    if model_name == "cnn":
        model = Cnn(2, size)
    else:
        import torchvision
        model = getattr(torchvision.models, model_name)(num_classes=2)
    model.train()
    x = torch.rand(batch, 3, size, size)
    y = torch.randint(0, 2, (batch,))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        optimizer.zero_grad()
        with autocast():
            loss = F.cross_entropy(model(x).float(), y)
        loss.backward()
        optimizer.step()

    for _ in range(3):
        step()
    start = time.perf_counter()
    for _ in range(count):
        step()
    seconds = time.perf_counter() - start
    print(f"python model={model_name} size={size} batch={batch} threads={threads} mode={mode} allocator={allocator()} "
          f"steps_images_per_s={count * batch / seconds:.1f} peak_rss_mb={peak_mb():.0f}", flush=True)


class SplitDataset(torch.utils.data.Dataset):
    def __init__(self, rows, classes, transform, draft=None):
        self.rows = rows
        self.classes = classes
        self.transform = transform
        self.draft = draft  # (w, h): PIL decodes a JPEG at the smallest DCT scale still at least this size

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, index):
        from PIL import Image
        path, label = self.rows[index]
        with Image.open(path) as image:
            if self.draft:
                image.draft("RGB", self.draft)
            image = image.convert("RGB")
        return self.transform(image), self.classes.index(label)


def e2e(split_csv, epochs, threads, workers, best=False):
    from torchvision import transforms
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    channels_last, autocast, mode = mode_settings(best)
    draft = (64, 64) if best else None
    with open(split_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    classes = sorted({row["class"] for row in rows})
    train = [(r["file"], r["class"]) for r in rows if r["split"] == "train"]
    test = [(r["file"], r["class"]) for r in rows if r["split"] == "test"]
    train_tf = transforms.Compose([transforms.Resize((64, 64)), transforms.RandomHorizontalFlip(),
                                   transforms.ToTensor()])
    test_tf = transforms.Compose([transforms.Resize((64, 64)), transforms.ToTensor()])
    loader = torch.utils.data.DataLoader(SplitDataset(train, classes, train_tf, draft), batch_size=32,
                                         shuffle=True, num_workers=workers,
                                         persistent_workers=workers > 0)
    test_loader = torch.utils.data.DataLoader(SplitDataset(test, classes, test_tf, draft), batch_size=64,
                                              num_workers=workers)
    model = Cnn(len(classes))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    rates = []
    for epoch in range(epochs):
        model.train()
        start = time.perf_counter()
        seen = 0
        for x, y in loader:
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            optimizer.zero_grad()
            with autocast():
                loss = F.cross_entropy(model(x).float(), y)
            loss.backward()
            optimizer.step()
            seen += len(y)
        rates.append(seen / (time.perf_counter() - start))
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in test_loader:
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast():
                correct += (model(x).float().argmax(1) == y).sum().item()
            total += len(y)
    print(f"python e2e threads={threads} workers={workers} mode={mode} allocator={allocator()} epochs={epochs} "
          f"train_images_per_s={sum(rates) / len(rates):.1f} first_epoch_images_per_s={rates[0]:.1f} "
          f"test_accuracy={correct / total:.4f} peak_rss_mb={peak_mb():.0f}", flush=True)


if __name__ == "__main__":
    best = sys.argv[-1] == "best"
    if sys.argv[1] == "steps":
        steps(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), best)
    else:
        e2e(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), best)
