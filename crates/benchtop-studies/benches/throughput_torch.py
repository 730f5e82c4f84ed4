"""Every model shape of `throughput.rs`, in PyTorch, for its ratios.

Reads the spec that throughput.rs writes (threads, each shape's settings, MiniLM's token ids),
measures each shape it names with the same layers, batch sizes, optimiser, learning rate and
dtype (f32), and prints one JSON line per shape: {"shape", "rate"}; then one line with the
torch version and threads. Written as a PyTorch user would write these models (nn modules,
F.scaled_dot_product_attention), each loop reading its loss back to Python where the burn side
reads it back to the host. Weights are random: throughput does not depend on their values.
"""
import json
import math
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn


def timed(warm, work):
    warm()
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def optimizer(spec, params, lr=None, weight_decay=None):
    lr = spec["lr"] if lr is None else lr
    wd = spec.get("weight_decay", 0.0) if weight_decay is None else weight_decay
    # burn's Adam and AdamW use eps 1e-5 (PyTorch's default is 1e-8); the same here.
    if spec.get("optimizer", "adamw") == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd, eps=1e-5)
    return torch.optim.AdamW(params, lr=lr, weight_decay=wd, eps=1e-5)


def minibatch_training(spec, model, x, y):
    """Rows/s of `epochs` of shuffled minibatches with cross-entropy, after one warm batch."""
    n, batch, epochs = len(x), spec["batch"], spec["epochs"]
    opt = optimizer(spec, model.parameters())

    def run(rows):
        order = torch.randperm(rows)
        for i in range(0, rows, batch):
            idx = order[i:i + batch]
            if len(idx) < 2:
                continue
            opt.zero_grad()
            loss = F.cross_entropy(model(x[idx]), y[idx])
            loss.item()
            loss.backward()
            opt.step()

    run(batch)
    start = time.perf_counter()
    for _ in range(epochs):
        run(n)
    return n * epochs / (time.perf_counter() - start)


def image_training(spec, make):
    n = spec["images"]
    return minibatch_training(spec, make(), torch.rand(n, 1, 28, 28), torch.randint(0, 10, (n,)))


def goat_classifier(pooled):
    layers = []
    for i, c_in in enumerate([1, 32, 32]):
        layers += [nn.Conv2d(c_in, 32, 3, padding="same"), nn.ReLU()]
        if pooled and i < 2:
            layers.append(nn.MaxPool2d(2))
    side = 7 if pooled else 28
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(32 * side * side, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                         nn.BatchNorm1d(128), nn.Linear(128, 10))


def goat_adapt(spec):
    """GOAT's head alone, self-trained on frozen (non-negative) features of the encoder's width."""
    n, dim = spec["rows"], spec["features"]
    model = nn.Sequential(nn.Linear(dim, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.BatchNorm1d(128), nn.Linear(128, 10))
    return minibatch_training(spec, model, torch.rand(n, dim), torch.randint(0, 10, (n,)))


def goat_inference(spec, pooled):
    n, batch = spec["images"], spec["batch"]
    model = goat_classifier(pooled).eval()
    x = torch.rand(n, 1, 28, 28)

    def run():
        with torch.no_grad():
            for i in range(0, n, batch):
                model(x[i:i + batch]).tolist()

    return n / timed(run, run)


class Normalised(nn.Module):
    def forward(self, x):
        return x / x.norm(dim=1, keepdim=True).clamp_min(1e-6)


class CosineHead(nn.Module):
    def __init__(self, rows, dim, scale):
        super().__init__()
        self.w = nn.Parameter(torch.empty(rows, dim).uniform_(-dim ** -0.5, dim ** -0.5))
        self.scale = scale

    def forward(self, x):
        return self.scale * x @ F.normalize(self.w, dim=1).T


def cfa_classifier():
    return nn.Sequential(nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Flatten(), nn.Linear(32 * 7 * 7, 128), Normalised(), CosineHead(10, 128, 10.0))


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))


class LoraLinear(nn.Module):
    def __init__(self, base, rank):
        super().__init__()
        self.base = base.requires_grad_(False)
        self.a = nn.Parameter(torch.empty(base.in_features, rank).uniform_(-base.in_features ** -0.5, base.in_features ** -0.5))
        self.b = nn.Parameter(torch.zeros(rank, base.out_features))

    def forward(self, x):
        return self.base(x) + (x @ self.a) @ self.b


def lora_mlp(rank):
    base = mlp()
    layers = [LoraLinear(m, rank) if isinstance(m, nn.Linear) else m for m in base]
    return nn.Sequential(*layers)


def isr(spec, irm):
    n, dim, steps, envs = spec["envs"] * spec["rows_per_env"], spec["dim"], spec["steps"], spec["envs"]
    x, y = torch.rand(n, dim) * 2 - 1, torch.randint(0, 2, (n, 1)).float()

    def run(steps):
        model = nn.Linear(dim, 1)
        nn.init.zeros_(model.weight)
        nn.init.zeros_(model.bias)
        opt = torch.optim.Adam(model.parameters(), lr=spec["lr"], eps=1e-5)
        anneal = steps // 2
        for step in range(steps):
            logits = model(x)
            risk = -(y * F.logsigmoid(logits) + (1 - y) * F.logsigmoid(-logits)).mean()
            objective = risk
            if irm:
                weight = 1.0 if step < anneal else spec["penalty"]
                if step == anneal and step > 0:
                    opt = torch.optim.Adam(model.parameters(), lr=spec["lr"], eps=1e-5)
                slope = (torch.sigmoid(logits) - y) * logits
                penalty = sum(part.mean() ** 2 for part in slope.split(spec["rows_per_env"]))
                objective = risk + penalty * weight
                if weight > 1.0:
                    objective = objective / weight
            if step == 0 or step + 1 == steps:
                risk.item()
                model.weight.tolist()
            opt.zero_grad()
            objective.backward()
            opt.step()

    return steps / timed(lambda: run(10), lambda: run(steps))


def cfa_heads(spec):
    n, batch, epochs, dim = spec["rows"], spec["batch"], spec["epochs"], spec["features"]
    f = F.normalize(torch.rand(n, dim), dim=1)
    y, d = torch.randint(0, 10, (n,)), torch.randint(0, 5, (n,))
    w1 = nn.Parameter(torch.empty(10, dim).uniform_(-dim ** -0.5, dim ** -0.5))
    w2 = nn.Parameter(torch.empty(5, dim).uniform_(-dim ** -0.5, dim ** -0.5))
    opt = torch.optim.AdamW([w1, w2], lr=spec["lr"], weight_decay=1e-4, eps=1e-5)
    class_w, domain_w = torch.ones(10), torch.ones(5)
    scale = spec["logit_scale"]

    def run(rows):
        order = torch.randperm(rows)
        for i in range(0, rows, batch):
            idx = order[i:i + batch]
            fb = f[idx]
            n1, n2 = F.normalize(w1, dim=1), F.normalize(w2, dim=1)
            loss = (F.cross_entropy(scale * fb @ n1.T, y[idx], weight=class_w) + F.cross_entropy(scale * fb @ n2.T, d[idx], weight=domain_w)
                    + spec["ortho_weight"] * (n1 @ n2.T).pow(2).sum())
            loss.item()
            opt.zero_grad()
            loss.backward()
            opt.step()

    run(batch)
    start = time.perf_counter()
    for _ in range(epochs):
        run(n)
    return n * epochs / (time.perf_counter() - start)


def bt_loss(margin, target, weight):
    per = target * F.logsigmoid(margin) + (1 - target) * F.logsigmoid(-margin)
    return -(per * weight).sum() / weight.sum().clamp_min(1e-12)


def reward_head(spec):
    n, dim = spec["pairs"], spec["dim"]
    a, b = torch.rand(n, dim), torch.rand(n, dim)
    target, weight = (torch.arange(n) % 2).float(), torch.ones(n)

    def run(steps):
        head = nn.Linear(dim, 1) if spec["hidden"] == 0 else nn.Sequential(nn.Linear(dim, spec["hidden"]), nn.ReLU(), nn.Linear(spec["hidden"], 1))
        opt = torch.optim.Adam(head.parameters(), lr=spec["lr"], weight_decay=spec["l2"], eps=1e-5)
        for _ in range(steps):
            loss = bt_loss(head(a).squeeze(1) - head(b).squeeze(1), target, weight)
            loss.item()
            opt.zero_grad()
            loss.backward()
            opt.step()

    return spec["steps"] / timed(lambda: run(5), lambda: run(spec["steps"]))


def armorm_gate(spec):
    n, dim, e, hidden = spec["rows"], spec["dim"], spec["experts"], spec["hidden"]
    x, objectives = torch.rand(n, dim), torch.rand(n, e)
    target, weight = (torch.arange(n) % 2).float(), torch.ones(n)

    def run(steps):
        gate = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, e))
        beta = nn.Parameter(torch.ones(1))
        opt = torch.optim.AdamW([*gate.parameters(), beta], lr=spec["lr"], weight_decay=spec["weight_decay"], eps=1e-5)
        for step in range(steps):
            margin = (torch.softmax(gate(x) / spec["temperature"], dim=1) * objectives).sum(1) * beta
            loss = bt_loss(margin, target, weight)
            if step % 100 == 0:
                loss.item()
            opt.zero_grad()
            loss.backward()
            opt.step()

    return spec["steps"] / timed(lambda: run(5), lambda: run(spec["steps"]))


class Bert(nn.Module):
    """all-MiniLM-L6-v2's shape: BERT, 6 layers, width 384, 12 heads, 1,536 hidden, vocab 30,522."""

    def __init__(self, vocab=30522, width=384, heads=12, layers=6, hidden=1536):
        super().__init__()
        self.heads = heads
        self.word, self.position, self.token_type = nn.Embedding(vocab, width), nn.Embedding(512, width), nn.Embedding(2, width)
        self.norm = nn.LayerNorm(width, eps=1e-12)
        self.layers = nn.ModuleList(
            nn.ModuleDict({"qkv": nn.Linear(width, 3 * width), "out": nn.Linear(width, width), "norm1": nn.LayerNorm(width, eps=1e-12),
                           "up": nn.Linear(width, hidden), "down": nn.Linear(hidden, width), "norm2": nn.LayerNorm(width, eps=1e-12)})
            for _ in range(layers))

    def forward(self, ids, keep):
        b, n = ids.shape
        x = self.norm(self.word(ids) + self.position.weight[:n] + self.token_type.weight[0])
        bias = ((keep - 1.0) * 1e4)[:, None, None, :]
        for layer in self.layers:
            q, k, v = layer["qkv"](x).view(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=bias).transpose(1, 2).reshape(b, n, -1)
            x = layer["norm1"](x + layer["out"](context))
            x = layer["norm2"](x + layer["down"](F.gelu(layer["up"](x))))
        pooled = (x * keep[:, :, None]).sum(1) / keep.sum(1, keepdim=True).clamp_min(1e-9)
        return F.normalize(pooled, dim=1)


def minilm(spec, tokens):
    if not tokens:
        return float("nan")
    model = Bert().eval()
    order = sorted(range(len(tokens)), key=lambda i: len(tokens[i]))

    def run(rows):
        with torch.no_grad():
            for i in range(0, len(rows), spec["batch"]):
                chunk = [tokens[j] for j in rows[i:i + spec["batch"]]]
                n = max(len(t) for t in chunk)
                ids = torch.tensor([t + [0] * (n - len(t)) for t in chunk])
                keep = torch.tensor([[1.0] * len(t) + [0.0] * (n - len(t)) for t in chunk])
                model(ids, keep).tolist()

    return len(tokens) / timed(lambda: run(order[:64]), lambda: run(order))


class Policy(nn.Module):
    """The alignment studies' GPT-style policy: pre-LN blocks, learned positions, untied output."""

    def __init__(self, s):
        super().__init__()
        self.heads, w = s["heads"], s["width"]
        self.token, self.position = nn.Parameter(torch.randn(s["vocab"], w) * 0.02), nn.Parameter(torch.randn(s["max_len"], w) * 0.02)
        self.blocks = nn.ModuleList(
            nn.ModuleDict({"norm1": nn.LayerNorm(w), "qkv": nn.Linear(w, 3 * w), "proj": nn.Linear(w, w), "norm2": nn.LayerNorm(w),
                           "up": nn.Linear(w, s["feed_forward"]), "down": nn.Linear(s["feed_forward"], w)})
            for _ in range(s["layers"]))
        self.norm, self.out = nn.LayerNorm(w), nn.Linear(w, s["vocab"])

    def forward(self, ids):
        b, n = ids.shape
        x = self.token[ids] + self.position[:n]
        for blk in self.blocks:
            q, k, v = blk["qkv"](blk["norm1"](x)).view(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
            x = x + blk["proj"](F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, n, -1))
            x = x + blk["down"](F.gelu(blk["up"](blk["norm2"](x))))
        return self.out(self.norm(x))

    def sequence_logprob(self, ids, weight):
        logp = torch.log_softmax(self(ids[:, :-1]), dim=2).gather(2, ids[:, 1:, None]).squeeze(2)
        return (logp * weight).sum(1)


def token_batch(s, rows):
    prompt, response = s["prompt_len"], s["response_len"]
    ids = torch.randint(2, s["vocab"], (rows, prompt + response))
    weight = torch.zeros(rows, prompt + response - 1)
    weight[:, prompt - 1:] = 1.0
    return ids, weight


def policy_sft(s):
    ids, weight = token_batch(s, s["batch"])

    def run(steps):
        model = Policy(s)
        opt = torch.optim.AdamW(model.parameters(), lr=s["lr"], weight_decay=0.0, eps=1e-5)
        for _ in range(steps):
            loss = -model.sequence_logprob(ids, weight).sum() / weight.sum()
            loss.item()
            opt.zero_grad()
            loss.backward()
            opt.step()

    return s["steps"] * ids.numel() / timed(lambda: run(2), lambda: run(s["steps"]))


def policy_dpo(s):
    ids, weight = token_batch(s, 2 * s["pairs"])
    reference = torch.full((s["pairs"],), 1.0)

    def run(steps):
        model = Policy(s)
        opt = torch.optim.AdamW(model.parameters(), lr=s["lr"], weight_decay=0.0, eps=1e-5)
        for _ in range(steps):
            lp = model.sequence_logprob(ids, weight)
            loss = -F.logsigmoid(s["beta"] * (lp[:s["pairs"]] - lp[s["pairs"]:] - reference)).mean()
            loss.item()
            opt.zero_grad()
            loss.backward()
            opt.step()

    return s["steps"] / timed(lambda: run(2), lambda: run(s["steps"]))


def policy_sampling(s):
    model = Policy(s).eval()
    new = s["max_len"] - s["prompt_len"]

    def run(rows):
        ids = torch.randint(2, s["vocab"], (rows, s["prompt_len"]))
        with torch.no_grad():
            for _ in range(new):
                logits = model(ids)[:, -1] / s["temperature"]
                logits[:, :2] = -math.inf  # <pad> and <bos> are never drawn
                ids = torch.cat([ids, torch.multinomial(torch.softmax(logits, dim=1), 1)], dim=1)
        return ids

    return s["prompts"] * new / timed(lambda: run(8), lambda: run(s["prompts"]))


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    torch.manual_seed(0)
    torch.set_num_threads(spec["threads"])
    shapes = spec["shapes"]
    measure = {
        "isr_logistic": lambda s: isr(s, False),
        "isr_irm": lambda s: isr(s, True),
        "goat_conv_train": lambda s: image_training(s, lambda: goat_classifier(False)),
        "goat_conv_inference": lambda s: goat_inference(s, False),
        "goat_pooled_train": lambda s: image_training(s, lambda: goat_classifier(True)),
        "goat_pooled_inference": lambda s: goat_inference(s, True),
        "goat_adapt_conv_features": goat_adapt,
        "goat_adapt_pooled_features": goat_adapt,
        "cfa_encoder_train": lambda s: image_training(s, cfa_classifier),
        "cfa_heads_train": cfa_heads,
        "forgetting_mlp_train": lambda s: image_training(s, mlp),
        "forgetting_lora_train": lambda s: image_training(s, lambda: lora_mlp(s["rank"])),
        "bradley_terry_linear": reward_head,
        "bradley_terry_mlp": reward_head,
        "armorm_gate": armorm_gate,
        "minilm_embed": lambda s: minilm(s, spec["minilm_tokens"]),
        "policy_sft": policy_sft,
        "policy_dpo": policy_dpo,
        "policy_sampling": policy_sampling,
    }
    for name, settings in shapes.items():
        print(json.dumps({"shape": name, "rate": measure[name](settings)}), flush=True)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
