"""Reference values for the recurrent layers: tests/reference/recurrent.json, from PyTorch.

Versions: torch==2.15.0 (reports "2.15.0+cu132", run on the CPU), numpy 2.4.6, Python 3.11.
Everything in float64; weights drawn from a seeded generator (N(0, 0.5²)), not from either
framework's default initialization.

Run from the repository root (rewrites the file; --check compares and writes nothing):
    /work/pyenv/bin/python tests/reference/gen_recurrent.py [--check]

Weight layouts, Keras (deeptrain) <- PyTorch, U units, F input features:
- LSTM: Keras kernel (F, 4U) and recurrent_kernel (U, 4U), columns in gate order i, f, c, o;
  torch weight_ih_l0 (4U, F), weight_hh_l0 (4U, U), rows in order i, f, g, o (g is Keras' c).
  kernel = weight_ih_l0ᵀ, recurrent_kernel = weight_hh_l0ᵀ, bias (4U) = bias_ih_l0 + bias_hh_l0
  (torch adds its two biases; Keras has one).
- GRU (Keras reset_after=True, the form torch implements): Keras columns in order z, r, h; torch
  rows in order r, z, n. With torch's blocks W_r, W_z, W_n (rows 0:U, U:2U, 2U:3U):
  kernel = [W_z; W_r; W_n]ᵀ for weight_ih_l0, recurrent_kernel likewise from weight_hh_l0, and
  bias (2, 3U) = [[b_iz, b_ir, b_in], [b_hz, b_hr, b_hn]] (input bias row, recurrent bias row;
  torch's n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)) is Keras' ĥ with reset_after).
- SimpleRNN: kernel = weight_ih_l0ᵀ, recurrent_kernel = weight_hh_l0ᵀ, bias = b_ih + b_hh.
- Dense: kernel = weightᵀ. Embedding: the same (input_dim, output_dim) table.
- go_backwards=True (Keras) = torch on the input flipped along time; Keras returns the
  sequence in that processing (reversed) order, as torch's output on the flipped input is.

Cases:
- "network": ids (3, 5) -> Embedding(7, 4) -> LSTM(6, return_sequences) -> GRU(5) ->
  Dense(3, softmax), loss = mean sparse categorical cross-entropy; the loss, the logits and
  the gradient of every weight (in Keras' layout).
- "simple_rnn": x (2, 4, 3) -> SimpleRNN(5, return_sequences, go_backwards); y and, for
  L = Σ y ⊙ w, dL/dx and every weight's gradient.
"""

import json
import sys
from pathlib import Path

import numpy
import torch

OUT = Path(__file__).with_name("recurrent.json")
D = torch.float64


def values(t):
    return t.detach().numpy().tolist()


def fill(module, g):
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=g, dtype=D))


def lstm_keras(m, grad=False):
    get = (lambda p: p.grad) if grad else (lambda p: p)
    kernel = get(m.weight_ih_l0).T
    recurrent = get(m.weight_hh_l0).T
    bias = get(m.bias_ih_l0) + get(m.bias_hh_l0) if not grad else get(m.bias_ih_l0)
    return {"kernel": values(kernel), "recurrent_kernel": values(recurrent), "bias": values(bias)}


def gru_order(w, u):
    """torch rows r, z, n -> Keras order z, r, h."""
    return torch.cat([w[u:2 * u], w[0:u], w[2 * u:]])


def gru_keras(m, u, grad=False):
    get = (lambda p: p.grad) if grad else (lambda p: p)
    kernel = gru_order(get(m.weight_ih_l0), u).T
    recurrent = gru_order(get(m.weight_hh_l0), u).T
    bias = torch.stack([gru_order(get(m.bias_ih_l0), u), gru_order(get(m.bias_hh_l0), u)])
    return {"kernel": values(kernel), "recurrent_kernel": values(recurrent), "bias": values(bias)}


def network_case():
    g = torch.Generator().manual_seed(35)
    emb = torch.nn.Embedding(7, 4).double()
    lstm = torch.nn.LSTM(4, 6, batch_first=True).double()
    gru = torch.nn.GRU(6, 5, batch_first=True).double()
    dense = torch.nn.Linear(5, 3).double()
    for m in (emb, lstm, gru, dense):
        fill(m, g)
    ids = torch.tensor([[1, 3, 0, 6, 2], [5, 5, 4, 1, 0], [2, 6, 6, 3, 1]])
    labels = torch.tensor([2, 0, 1])
    seq, _ = lstm(emb(ids))
    out, _ = gru(seq)
    logits = dense(out[:, -1])
    loss = torch.nn.functional.cross_entropy(logits, labels)
    loss.backward()
    # The bias gradient of a summed bias is the gradient of either torch bias (they are equal).
    assert torch.allclose(lstm.bias_ih_l0.grad, lstm.bias_hh_l0.grad)
    return {
        "ids": ids.tolist(), "labels": labels.tolist(),
        "weights": {
            "embedding": values(emb.weight), "lstm": lstm_keras(lstm), "gru": gru_keras(gru, 5),
            "dense_kernel": values(dense.weight.T), "dense_bias": values(dense.bias),
        },
        "loss": loss.item(),
        "probabilities": values(torch.softmax(logits, dim=1)),
        "grads": {
            "embedding": values(emb.weight.grad), "lstm": lstm_keras(lstm, grad=True),
            "gru": gru_keras(gru, 5, grad=True),
            "dense_kernel": values(dense.weight.grad.T), "dense_bias": values(dense.bias.grad),
        },
    }


def simple_rnn_case():
    g = torch.Generator().manual_seed(36)
    rnn = torch.nn.RNN(3, 5, batch_first=True).double()
    fill(rnn, g)
    x = torch.randn(2, 4, 3, generator=g, dtype=D, requires_grad=True)
    y, _ = rnn(torch.flip(x, dims=[1]))  # go_backwards
    w = torch.randn(y.shape, generator=g, dtype=D)
    (y * w).sum().backward()
    return {
        "x": values(x), "w": values(w), "y": values(y), "dx": values(x.grad),
        "weights": {
            "kernel": values(rnn.weight_ih_l0.T), "recurrent_kernel": values(rnn.weight_hh_l0.T),
            "bias": values(rnn.bias_ih_l0 + rnn.bias_hh_l0),
        },
        "grads": {
            "kernel": values(rnn.weight_ih_l0.grad.T),
            "recurrent_kernel": values(rnn.weight_hh_l0.grad.T),
            "bias": values(rnn.bias_ih_l0.grad),
        },
    }


def main():
    data = {
        "framework": f"torch {torch.__version__}, numpy {numpy.__version__}, float64",
        "network": network_case(),
        "simple_rnn": simple_rnn_case(),
    }
    text = json.dumps(data, indent=1) + "\n"
    if "--check" in sys.argv:
        same = OUT.exists() and OUT.read_text() == text
        print(f"{OUT.name}: {'identical' if same else 'DIFFERS'}")
        sys.exit(0 if same else 1)
    OUT.write_text(text)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
