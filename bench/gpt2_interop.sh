#!/usr/bin/env bash
# GPT-2 small (124M parameters, 1024 positions, vocab 50257) through normgrad on this
# machine, without a download: transformers writes a randomly initialised full-size
# GPT2LMHeadModel, normgrad imports it, evaluates it on an llm.c token file and samples from
# it. Reports load time, eval tokens/s, sampling tokens/s and peak memory (max RSS) of each.
#   bash bench/gpt2_interop.sh [build dir, default build/release]
# Needs the venv tools/test.sh builds (build/py-venv: transformers over Debian's PyTorch).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
ng="$build/bin/normgrad"
py=build/py-venv/bin/python
if ! "$py" -c 'import transformers, torch' > /dev/null 2>&1; then
  echo "needs $py with transformers and torch: run bash tools/test.sh once (it builds the venv)" >&2
  exit 1
fi
work=$(mktemp -d /tmp/normgrad_gpt2.XXXXXX)
trap 'rm -rf "$work"' EXIT

measure() {  # label, command...: wall seconds and max RSS from GNU time's -f
  local label=$1
  shift
  /usr/bin/time -f "$label: %e s wall, max RSS %M KiB" "$@" 2> "$work/time.txt" | tail -3
  tail -1 "$work/time.txt"
}

echo "== transformers: a random full-size GPT-2 small =="
measure "save_pretrained" "$py" tests/hf_reference.py full-gpt2 "$work/gpt2"
du -h "$work/gpt2/model.safetensors"

# 16 windows of 1024 random token ids in llm.c's format (header: magic, version 1, count)
"$py" - "$work/tokens.bin" << 'EOF'
import struct, sys, random
random.seed(0)
n = 16 * 1024 + 1
header = struct.pack("<256i", *([20240520, 1, n] + [0] * 253))
with open(sys.argv[1], "wb") as f:
    f.write(header + struct.pack("<%dH" % n, *[random.randrange(50257) for _ in range(n)]))
EOF

echo "== normgrad =="
measure "import" "$ng" import --hf "$work/gpt2" --out "$work/run"
measure "eval 16 x 1024 tokens" "$ng" eval --ckpt "$work/run/ckpt.safetensors" --data "$work/tokens.bin"
measure "sample 32 tokens" "$ng" sample --ckpt "$work/run/ckpt.safetensors" --tokens 32

echo "== transformers on the same model and tokens (PyTorch $("$py" -c 'import torch; print(torch.__version__)'), 2 threads) =="
"$py" - "$work/gpt2" "$work/tokens.bin" << 'EOF2'
import struct, sys, time
import torch
from transformers import GPT2LMHeadModel
torch.set_num_threads(2)
t0 = time.time()
model = GPT2LMHeadModel.from_pretrained(sys.argv[1]).eval()
t1 = time.time()
data = open(sys.argv[2], "rb").read()
n = struct.unpack("<3i", data[:12])[2]
ids = torch.tensor(struct.unpack("<%dH" % n, data[1024:]), dtype=torch.long)
total = 0.0
with torch.no_grad():
    t2 = time.time()
    for w in range(16):  # the windows normgrad's eval takes: x = ids[w*1024 : w*1024+1024], y shifted
        x = ids[w * 1024:(w + 1) * 1024][None]
        y = ids[w * 1024 + 1:(w + 1) * 1024 + 1][None]
        logits = model(x).logits
        total += torch.nn.functional.cross_entropy(logits[0], y[0]).item()
    t3 = time.time()
print("transformers: loss %.4f over 16 windows of 1024 tokens; loaded in %.2f s; forward passes %.2f s (%.0f tokens/s)"
      % (total / 16, t1 - t0, t3 - t2, 16 * 1024 / (t3 - t2)))
EOF2
