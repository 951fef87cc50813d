#!/usr/bin/env python3
"""The reference side of the GPT-2 interop tests (the `interop` suite): Hugging Face
transformers + tokenizers, run from the venv tools/test.sh builds (NG_HF_PYTHON).

  hf_reference.py tiny-gpt2 DIR            random tiny GPT2LMHeadModel saved to DIR (vocab
                                           97, or DIR/vocab.json's size), plus
                                           DIR/reference.json: input ids, logits, loss
  hf_reference.py logits DIR IDS_JSON      load DIR with GPT2LMHeadModel.from_pretrained and
                                           print the logits of IDS_JSON's ids as JSON
  hf_reference.py train-bpe CORPUS DIR     byte-level BPE trained on CORPUS with `tokenizers`,
                                           saved as GPT-2's vocab.json + merges.txt in DIR
  hf_reference.py encode DIR TEXT_FILE     ids of every line of TEXT_FILE (and of the whole
                                           file) from GPT2Tokenizer and GPT2TokenizerFast
  hf_reference.py full-gpt2 DIR            a randomly initialised full-size GPT-2 small
  hf_reference.py refuses DIR              try GPT2LMHeadModel.from_pretrained(DIR) and
                                           AutoModelForCausalLM.from_pretrained(DIR); print
                                           JSON: each one's error, or null where it loaded
  hf_reference.py all DIR CORPUS BPE_TRAIN BPE_TEST
                                           what the interop tests need, in one process (one
                                           torch import): DIR/hf_tiny (tiny-gpt2), DIR/bpe
                                           (train-bpe BPE_TRAIN) + DIR/bpe_ref.json (encode
                                           BPE_TEST), DIR/hf_bpe (train-bpe CORPUS, then
                                           tiny-gpt2 with that vocabulary)
"""
import json
import sys

import torch


def tiny_gpt2(out):
    import os
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(0)
    vocab = 97  # or the size of a tokenizer already in the folder
    if os.path.exists(out + "/vocab.json"):
        vocab = len(json.load(open(out + "/vocab.json")))
    cfg = GPT2Config(vocab_size=vocab, n_positions=32, n_embd=48, n_layer=3, n_head=4,
                     activation_function="gelu_new", resid_pdrop=0.0, embd_pdrop=0.0,
                     attn_pdrop=0.0, layer_norm_epsilon=1e-5)
    model = GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():  # LayerNorm weights and biases away from 1 and 0, so they matter
        for name, p in model.named_parameters():
            if ".ln_" in name:
                p.add_(0.3 * torch.randn_like(p))
    model.save_pretrained(out, safe_serialization=True)
    ids = torch.randint(0, cfg.vocab_size, (2, 32), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        res = model(ids, labels=ids)
    # GPT-2's loss predicts token t+1 from t; normgrad's loss takes explicit targets
    json.dump({"ids": ids.tolist(), "logits": res.logits.tolist(), "loss": res.loss.item()},
              open(out + "/reference.json", "w"))


def logits(folder, ids_path):
    from transformers import GPT2LMHeadModel
    model = GPT2LMHeadModel.from_pretrained(folder).eval()
    ids = torch.tensor(json.load(open(ids_path))["ids"])
    with torch.no_grad():
        print(json.dumps({"logits": model(ids).logits.double().tolist()}))


def train_bpe(corpus, out):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train([corpus], trainer)
    tok.model.save(out)  # vocab.json + merges.txt, GPT-2's format
    tok.save(out + "/tokenizer.json")


def encode(folder, text_file, out=None):
    from transformers import GPT2Tokenizer, GPT2TokenizerFast
    slow = GPT2Tokenizer(folder + "/vocab.json", folder + "/merges.txt")
    fast = GPT2TokenizerFast(vocab_file=folder + "/vocab.json", merges_file=folder + "/merges.txt")
    text = open(text_file, encoding="utf-8", newline="").read()  # keep \r\n as it is
    pieces = text.split("\n") + [text]
    result = json.dumps({"slow": [slow.encode(p) for p in pieces],
                         "fast": [fast.encode(p) for p in pieces]})
    if out:
        open(out, "w").write(result)
    else:
        print(result)


def full_gpt2(out):
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config()).save_pretrained(out, safe_serialization=True)


def refuses(folder):
    from transformers import AutoModelForCausalLM, GPT2LMHeadModel
    errors = {}
    for name, cls in (("gpt2", GPT2LMHeadModel), ("auto", AutoModelForCausalLM)):
        try:
            cls.from_pretrained(folder)
            errors[name] = None
        except Exception as e:  # what a user would see: its type and message
            errors[name] = f"{type(e).__name__}: {e}"
    print(json.dumps(errors))


def everything(out, corpus, bpe_train, bpe_test):
    import os
    for d in ("hf_tiny", "bpe", "hf_bpe"):
        os.makedirs(os.path.join(out, d), exist_ok=True)
    tiny_gpt2(out + "/hf_tiny")
    train_bpe(bpe_train, out + "/bpe")
    encode(out + "/bpe", bpe_test, out + "/bpe_ref.json")
    train_bpe(corpus, out + "/hf_bpe")
    tiny_gpt2(out + "/hf_bpe")


if __name__ == "__main__":
    cmd = sys.argv[1]
    {"tiny-gpt2": lambda: tiny_gpt2(sys.argv[2]),
     "logits": lambda: logits(sys.argv[2], sys.argv[3]),
     "train-bpe": lambda: train_bpe(sys.argv[2], sys.argv[3]),
     "encode": lambda: encode(sys.argv[2], sys.argv[3]),
     "full-gpt2": lambda: full_gpt2(sys.argv[2]),
     "refuses": lambda: refuses(sys.argv[2]),
     "all": lambda: everything(*sys.argv[2:6])}[cmd]()
