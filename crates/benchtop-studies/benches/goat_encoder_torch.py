"""The GOAT study's classifier in PyTorch, for `goat_encoder`'s throughput ratio.

The same shapes as crates/benchtop-studies/src/goat/model.rs: three 3x3 convolutions of 32
channels ('same' padding; 2x2 max-pool after the first two for `conv_pooled`), then the MLP
head (Linear 128, ReLU, Linear 128, ReLU, BatchNorm, Linear 10); Adam lr 1e-4, weight decay
1e-4, batch 128, on the same number of 28x28 inputs. Prints one JSON line per encoder.
"""
import json
import sys
import time

import torch
from torch import nn


def classifier(pooled):
    layers = []
    for i, c_in in enumerate([1, 32, 32]):
        layers += [nn.Conv2d(c_in, 32, 3, padding="same"), nn.ReLU()]
        if pooled and i < 2:
            layers.append(nn.MaxPool2d(2))
    side = 7 if pooled else 28
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(32 * side * side, 128), nn.ReLU(),
                         nn.Linear(128, 128), nn.ReLU(), nn.BatchNorm1d(128), nn.Linear(128, 10))


def main():
    images = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    torch.manual_seed(0)
    torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else torch.get_num_threads())
    x = torch.rand(images, 1, 28, 28)
    y = torch.randint(0, 10, (images,))
    for name, pooled in [("conv", False), ("conv_pooled", True)]:
        model = classifier(pooled)
        opt = torch.optim.Adam(model.parameters(), lr=1e-4, weight_decay=1e-4)
        loss_fn = nn.CrossEntropyLoss()
        # One warm-up batch, as burn's side gets its first allocation too.
        loss_fn(model(x[:128]), y[:128]).backward()
        start = time.perf_counter()
        for i in range(0, images, 128):
            opt.zero_grad()
            loss = loss_fn(model(x[i:i + 128]), y[i:i + 128])
            loss.backward()
            opt.step()
        train = time.perf_counter() - start
        model.eval()
        start = time.perf_counter()
        with torch.no_grad():
            for i in range(0, images, 256):
                model(x[i:i + 256])
        infer = time.perf_counter() - start
        print(json.dumps({"encoder": name, "train_images_per_s": images / train, "infer_images_per_s": images / infer,
                          "threads": torch.get_num_threads(), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
