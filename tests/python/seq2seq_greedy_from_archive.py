"""Greedy decoding from a seq2seq `zoo export` archive with nothing but PyTorch (char tokenizer):
python3 seq2seq_greedy_from_archive.py ARCHIVE SOURCE [SOURCE...]

Encodes all sources as one right-padded batch through the archive's traced `encode`, then runs
`decode_step` greedily until every row has produced </s> or the manifest's max_output_length,
and prints one decoded output per line."""
import json
import sys

import torch

archive, sources = sys.argv[1], sys.argv[2:]
files = {"zoo/manifest.json": "", "zoo/tokenizer/tokenizer.json": ""}
model = torch.jit.load(archive, _extra_files=files)
manifest = json.loads(files["zoo/manifest.json"])
vocab = json.loads(files["zoo/tokenizer/tokenizer.json"])
assert vocab["type"] == "char", "this sketch reads char tokenizers"
first = 1 + len(vocab["special_tokens"])  # id 0 is unknown, then the special tokens, then the characters
rows = [[first + vocab["chars"].index(c) if c in vocab["chars"] else 0 for c in s] for s in sources]
length = max(len(r) for r in rows)
source = torch.tensor([r + [0] * (length - len(r)) for r in rows])
mask = torch.tensor([[True] * len(r) + [False] * (length - len(r)) for r in rows])
bos, eos = manifest["bos_id"], manifest["eos_id"]
outputs = [[] for _ in rows]
done = [False] * len(rows)
with torch.no_grad():
    memory, keys, mask, h, c, feed = model.encode(source, mask)
    token = torch.full((len(rows),), bos, dtype=torch.long)
    for _ in range(manifest["max_output_length"]):
        logits, attention, h, c, feed = model.decode_step(token, memory, keys, mask, h, c, feed)
        token = logits.argmax(-1)
        for b, t in enumerate(token.tolist()):
            if not done[b]:
                if t == eos:
                    done[b] = True
                else:
                    outputs[b].append(t)
        if all(done):
            break
for ids in outputs:
    print("".join(vocab["chars"][i - first] if i >= first else "" for i in ids))
