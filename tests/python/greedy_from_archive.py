"""Greedy decoding from a `zoo export` archive with nothing but PyTorch (char tokenizer):
python3 greedy_from_archive.py ARCHIVE PROMPT NEW_TOKENS"""
import json, sys
import torch

archive, prompt, new_tokens = sys.argv[1], sys.argv[2], int(sys.argv[3])
files = {"zoo/manifest.json": "", "zoo/tokenizer/tokenizer.json": ""}
model = torch.jit.load(archive, _extra_files=files)
context = json.loads(files["zoo/manifest.json"])["context_length"]
vocab = json.loads(files["zoo/tokenizer/tokenizer.json"])
assert vocab["type"] == "char", "this sketch reads char tokenizers (tokenizer.model is SentencePiece's)"
first = 1 + len(vocab["special_tokens"])  # id 0 is unknown, then the special tokens, then the characters
ids = [first + vocab["chars"].index(c) if c in vocab["chars"] else 0 for c in prompt]
start = max(0, len(ids) - context)
with torch.no_grad():
    for _ in range(new_tokens):
        logits = model(torch.tensor([ids[start:]]))  # (1, T, vocab)
        ids.append(int(logits[0, -1].argmax()))
        if len(ids) - start > context:  # as zoo does: keep the last half context when it fills
            start = len(ids) - context // 2
print("".join(vocab["chars"][i - first] if i >= first else "\ufffd" for i in ids))
