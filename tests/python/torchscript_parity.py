"""Loads a zoo TorchScript archive with torch.jit.load and compares its logits with the C++
model's on the inputs the C++ test saved: python3 torchscript_parity.py ARCHIVE CASES."""
import sys

import torch

archive, cases_path = sys.argv[1], sys.argv[2]
model = torch.jit.load(archive)
names = [name for name, _ in model.named_parameters()]
assert "wte.weight" in names, f"parameters are not named as in C++: {names[:5]}"
cases = torch.load(cases_path)
worst = 0.0
with torch.no_grad():
    for ids, expected in zip(cases[0::2], cases[1::2]):
        logits = model(ids)
        assert logits.shape == expected.shape, (logits.shape, expected.shape)
        worst = max(worst, (logits - expected).abs().max().item())
tolerance = 1e-5
assert worst <= tolerance, f"max abs difference {worst} > {tolerance}"
print(f"{len(cases) // 2} shapes within {tolerance:g} (max abs difference {worst:.2e}); {len(names)} named parameters")
