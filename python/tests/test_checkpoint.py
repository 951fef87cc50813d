"""state_dict / load_state_dict, safetensors files, checkpoints, and a checkpoint written by
`normgrad train` read from Python: the same loss and gradients as `normgrad grads`, the same
loss as `normgrad eval`. Tokenizers: characters and GPT-2 BPE, encode and decode."""
import json
import os
import re
import subprocess

import numpy as np
import pytest

import normgrad as ng

from helpers import small_config


def tiny_gpt(seed):
    return ng.nn.GPT(vocab=11, n_layer=1, n_head=2, n_embd=16, block_size=8, norm="dyt",
                     seed=seed)


def logits(model, ids):
    with ng.no_grad():
        return model(ng.from_numpy(np.array(ids, dtype=np.int64))).numpy_copy()


def test_state_dict_round_trip_and_strictness():
    a, b = tiny_gpt(1), tiny_gpt(2)
    ids = [[1, 2, 3, 4, 5, 6]]
    assert not np.array_equal(logits(a, ids), logits(b, ids))
    sd = a.state_dict()
    assert set(sd) >= set(a.named_parameters()) and all(isinstance(t, ng.Tensor) for t in sd.values())
    assert b.load_state_dict(sd).ok()
    np.testing.assert_array_equal(logits(a, ids), logits(b, ids))
    name = next(iter(sd))
    del sd[name]
    with pytest.raises(ng.Error, match=re.escape(name)):
        b.load_state_dict(sd)
    report = b.load_state_dict(sd, strict=False)
    assert not report and report.missing == [name]


def test_safetensors_and_checkpoint_files(tmp_path):
    t = {"w": ng.tensor(np.arange(6.0).reshape(2, 3), dtype="float64"),
         "i": ng.tensor([3, 1, 4]), "f": ng.ones([4])}
    path = str(tmp_path / "t.safetensors")
    ng.save_safetensors(path, t, {"note": "hello"})
    back, meta = ng.load_safetensors(path)
    assert meta == {"note": "hello"}
    for k in t:
        assert back[k].dtype == t[k].dtype
        np.testing.assert_array_equal(back[k].to_numpy(), t[k].to_numpy())
    # The layout any safetensors reader expects: u64 header length, JSON header, data.
    raw = (tmp_path / "t.safetensors").read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    assert header["w"]["dtype"] == "F64" and header["w"]["shape"] == [2, 3]
    start, end = header["w"]["data_offsets"]
    np.testing.assert_array_equal(np.frombuffer(raw[8 + n + start:8 + n + end], "<f8"),
                                  np.arange(6.0))
    (tmp_path / "bad.safetensors").write_bytes(raw[:-3])
    with pytest.raises(ng.Error, match="bad.safetensors"):
        ng.load_safetensors(str(tmp_path / "bad.safetensors"))

    a, b = tiny_gpt(1), tiny_gpt(2)
    opt = ng.optim.AdamW(a, lr=1e-2)
    ids = ng.from_numpy(np.array([[1, 2, 3, 4]], dtype=np.int64))
    a.loss(ids, ids).backward()
    opt.step()
    ck = str(tmp_path / "ck.safetensors")
    ng.save_checkpoint(ck, a, opt, {"step": "1"})
    opt_b = ng.optim.AdamW(b, lr=1e-2)
    assert ng.load_checkpoint(ck, b, opt_b)["step"] == "1"
    np.testing.assert_array_equal(logits(a, [[1, 2, 3]]), logits(b, [[1, 2, 3]]))


def test_a_train_checkpoint_gives_the_commands_loss_and_gradients(tmp_path):
    cli = os.environ.get("NG_CLI_BINARY", "")
    if not cli or not os.path.exists(cli):
        pytest.skip("NG_CLI_BINARY (the normgrad command) is not set or missing")
    flags = small_config(tmp_path / "run", max_steps=6, eval_interval=6, ckpt_interval=6).to_flags()
    subprocess.run([cli, "train", *flags], check=True, capture_output=True)
    ckpt = str(tmp_path / "run" / "ckpt.safetensors")
    run = ng.read_saved_run(ckpt)
    assert run.step == 6 and run.config.norm == "dyt" and run.tokenizer.kind == "chars"
    model = run.model
    assert not model.training

    # grads: the loss and every gradient of the next training batch, in a file.
    grads = str(tmp_path / "g.safetensors")
    subprocess.run([cli, "grads", "--ckpt", ckpt, "--out", grads], check=True, capture_output=True)
    g, _ = ng.load_safetensors(grads)
    model.train()
    loss = model.loss(g["input_ids"], g["target_ids"])
    assert loss.item() == pytest.approx(g["loss"].item(), rel=1e-6)
    loss.backward()
    for name, p in model.named_parameters().items():
        np.testing.assert_allclose(p.grad.to_numpy(), g["grad." + name].to_numpy(), rtol=1e-4,
                                   atol=1e-6, err_msg=name)

    # eval: the mean loss over a file's block_size windows, printed to 4 decimals.
    tok, T = run.tokenizer, run.config.block_size
    text = tok.decode([(7 * i + 3) % len(tok) for i in range(5 * T + 1)])
    (tmp_path / "text.txt").write_text(text)
    out = subprocess.run([cli, "eval", "--ckpt", ckpt, "--data", str(tmp_path / "text.txt")],
                         check=True, capture_output=True, text=True).stdout
    printed = float(re.search(r"eval: loss ([0-9.]+)", out).group(1))
    model.eval()
    ids = np.array(tok.encode(text), dtype=np.int64)
    assert tok.decode(ids.tolist()) == text
    with ng.no_grad():
        x = ng.from_numpy(ids[:5 * T].reshape(5, T).copy())
        y = ng.from_numpy(ids[1:5 * T + 1].reshape(5, T).copy())
        assert model(x).shape == (5, T, len(tok))
        assert round(model.loss(x, y).item(), 4) == printed


def _gpt2_byte_chars():
    # GPT-2's byte -> character map: printable bytes stand for themselves, the others take
    # the code points from 256 up, in byte order.
    printable = set(range(ord("!"), ord("~") + 1)) | set(range(0xA1, 0xAD)) | set(range(0xAE, 256))
    out, nxt = {}, 256
    for b in range(256):
        if b in printable:
            out[b] = chr(b)
        else:
            out[b], nxt = chr(nxt), nxt + 1
    return out


def test_tokenizers(tmp_path):
    c = ng.Tokenizer.chars("hello world")
    assert c.kind == "chars" and len(c) == 8  # ' ', d, e, h, l, o, r, w
    assert c.encode("hold") == [3, 5, 4, 1] and c.decode([7, 5]) == "wo"
    with pytest.raises(ng.Error, match=r"U\+7a is not in the 8-character vocabulary"):
        c.encode("z")

    vocab = {ch: b for b, ch in _gpt2_byte_chars().items()}
    for i, t in enumerate(["ll", "he", "hell", "hello", "\u0120hello", "<|endoftext|>"]):
        vocab[t] = 256 + i
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    (tmp_path / "merges.txt").write_text("#version: 0.2\nl l\nh e\nhe ll\nhell o\n\u0120 hello\n")
    bpe = ng.Tokenizer.gpt2_bpe(str(tmp_path))
    assert bpe.kind == "gpt2-bpe" and len(bpe) == 262
    assert bpe.encode("hello hello") == [259, 260]
    assert bpe.encode("hello<|endoftext|>hell") == [259, 261, 258]
    text = "hello,  w\u00f6rld \U0001f600\n<|endoftext|>"
    assert bpe.decode(bpe.encode(text)) == text
    with pytest.raises(ng.Error, match="vocab"):
        ng.Tokenizer.gpt2_bpe(str(tmp_path / "nowhere"))
