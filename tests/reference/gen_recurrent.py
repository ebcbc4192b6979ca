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
- "masked": ids (3, 6) with 0 as padding (at the end, in the middle and at the start) ->
  Embedding(7, 4, mask_zero) -> LSTM(5, return_sequences) -> GRU(4, go_backwards) ->
  Dense(3, softmax), mean cross-entropy; the loss, the probabilities and every weight's gradient.
  - "masked_rnn": the same ids -> Embedding(7, 3, mask_zero) -> SimpleRNN(4, return_sequences)
    -> SimpleRNN(3, go_backwards); the output y, and for the mean squared error of y against w,
    the loss and every weight's gradient.
- "bidirectional_lstm": x (2, 4, 3) -> Bidirectional(LSTM(3, return_sequences), "concat") is
  torch's nn.LSTM(3, 3, bidirectional=True) output (both in input order: Keras reverses its
  backward copy's sequence); y (2, 4, 6) and, for L = Σ y ⊙ w, dL/dx and the six weights'
  gradients (forward copy's kernel, recurrent kernel, bias, then the backward copy's from
  torch's *_reverse weights).
- "bidirectional_gru": x (2, 4, 3) -> Bidirectional(GRU(3), "sum") is h_n[0] + h_n[1] of
  torch's nn.GRU(3, 3, bidirectional=True); y, dL/dx and the gradients as above.

Masking rule (Keras 3, keras/src/backend/numpy/rnn.py and tensorflow/rnn.py, RNN's default
zero_output_for_mask=False; the RNN keeps the mask on its output only with return_sequences,
keras/src/layers/rnn/rnn.py compute_mask): at a step whose mask is 0 the states are carried,
h_t = h_{t-1} (and c_t = c_{t-1}), and the output is the carried h. It is written out below as a
loop over torch's LSTMCell/GRUCell/RNNCell with torch.where. torch's packed sequences are a
different convention (zeros at padded outputs, right padding only), not the one matched here.
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


def cell_keras(m, gates, grad=False, order=None):
    """A torch *Cell's weights in Keras' layout (biases summed unless the cell is a GRU)."""
    get = (lambda p: p.grad) if grad else (lambda p: p)
    o = order or (lambda w: w)
    out = {"kernel": values(o(get(m.weight_ih)).T), "recurrent_kernel": values(o(get(m.weight_hh)).T)}
    if gates == "gru":
        out["bias"] = values(torch.stack([o(get(m.bias_ih)), o(get(m.bias_hh))]))
    elif grad:
        out["bias"] = values(get(m.bias_ih))
    else:
        out["bias"] = values(get(m.bias_ih) + get(m.bias_hh))
    return out


def run_masked(cell, x, mask, units, lstm=False, backwards=False):
    """Keras' masked recurrence over x (B, T, F): every step's h (B, T, U) in processing order."""
    b, t_len = x.shape[0], x.shape[1]
    h = torch.zeros(b, units, dtype=D)
    c = torch.zeros(b, units, dtype=D)
    outputs = []
    steps = range(t_len - 1, -1, -1) if backwards else range(t_len)
    for t in steps:
        m = mask[:, t:t + 1]
        if lstm:
            h_new, c_new = cell(x[:, t], (h, c))
            c = torch.where(m, c_new, c)
        else:
            h_new = cell(x[:, t], h)
        h = torch.where(m, h_new, h)
        outputs.append(h)
    return torch.stack(outputs, dim=1)


MASKED_IDS = [[3, 1, 4, 0, 0, 0], [5, 0, 2, 6, 1, 0], [0, 0, 2, 2, 6, 3]]


def masked_case():
    g = torch.Generator().manual_seed(37)
    emb = torch.nn.Embedding(7, 4).double()
    lstm = torch.nn.LSTMCell(4, 5).double()
    gru = torch.nn.GRUCell(5, 4).double()
    dense = torch.nn.Linear(4, 3).double()
    for m in (emb, lstm, gru, dense):
        fill(m, g)
    ids = torch.tensor(MASKED_IDS)
    mask = ids != 0
    labels = torch.tensor([1, 2, 0])
    seq = run_masked(lstm, emb(ids), mask, 5, lstm=True)
    last = run_masked(gru, seq, mask, 4, backwards=True)[:, -1]
    logits = dense(last)
    loss = torch.nn.functional.cross_entropy(logits, labels)
    loss.backward()
    order = lambda w: gru_order(w, 4)
    return {
        "ids": ids.tolist(), "labels": labels.tolist(),
        "weights": {
            "embedding": values(emb.weight), "lstm": cell_keras(lstm, "lstm"),
            "gru": cell_keras(gru, "gru", order=order),
            "dense_kernel": values(dense.weight.T), "dense_bias": values(dense.bias),
        },
        "loss": loss.item(),
        "probabilities": values(torch.softmax(logits, dim=1)),
        "grads": {
            "embedding": values(emb.weight.grad), "lstm": cell_keras(lstm, "lstm", grad=True),
            "gru": cell_keras(gru, "gru", grad=True, order=order),
            "dense_kernel": values(dense.weight.grad.T), "dense_bias": values(dense.bias.grad),
        },
    }


def masked_rnn_case():
    g = torch.Generator().manual_seed(38)
    emb = torch.nn.Embedding(7, 3).double()
    first = torch.nn.RNNCell(3, 4).double()
    second = torch.nn.RNNCell(4, 3).double()
    for m in (emb, first, second):
        fill(m, g)
    ids = torch.tensor(MASKED_IDS)
    mask = ids != 0
    seq = run_masked(first, emb(ids), mask, 4)
    y = run_masked(second, seq, mask, 3, backwards=True)[:, -1]
    w = torch.randn(y.shape, generator=g, dtype=D)
    loss = ((y - w) ** 2).mean()
    loss.backward()
    return {
        "ids": ids.tolist(), "w": values(w), "y": values(y), "loss": loss.item(),
        "weights": {"embedding": values(emb.weight), "first": cell_keras(first, "rnn"),
                    "second": cell_keras(second, "rnn")},
        "grads": {"embedding": values(emb.weight.grad), "first": cell_keras(first, "rnn", grad=True),
                  "second": cell_keras(second, "rnn", grad=True)},
    }


def directions(m, convert):
    """Forward then backward copy's weights in Keras' layout, from torch's l0 and l0_reverse."""
    out = []
    for suffix in ("", "_reverse"):
        cell = type("Cell", (), {})()
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            setattr(cell, name, getattr(m, f"{name}_l0{suffix}"))
        out.append(convert(cell))
    return out


def bidirectional_case(kind, seed):
    g = torch.Generator().manual_seed(seed)
    if kind == "lstm":
        rnn = torch.nn.LSTM(3, 3, batch_first=True, bidirectional=True).double()
    else:
        rnn = torch.nn.GRU(3, 3, batch_first=True, bidirectional=True).double()
    fill(rnn, g)
    x = torch.randn(2, 4, 3, generator=g, dtype=D, requires_grad=True)
    out, h_n = rnn(x)
    y = out if kind == "lstm" else h_n[0] + h_n[1]
    w = torch.randn(y.shape, generator=g, dtype=D)
    (y * w).sum().backward()
    order = (lambda w: gru_order(w, 3)) if kind == "gru" else None
    gates = "gru" if kind == "gru" else "lstm"
    weights = directions(rnn, lambda c: cell_keras(c, gates, order=order))
    grads = directions(rnn, lambda c: cell_keras(
        type("Grad", (), {n: getattr(c, n).grad for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")})(),
        gates, order=order))
    # The gradient of a summed bias is either torch bias's (they are equal); cell_keras(grad=True)
    # would read .grad of a gradient, so the gradients are passed as values with the bias_ih one.
    if gates == "lstm":
        for gr, (f, b) in zip(grads, [("bias_ih_l0", "bias_hh_l0"), ("bias_ih_l0_reverse", "bias_hh_l0_reverse")]):
            gr["bias"] = values(getattr(rnn, f).grad)
    return {"x": values(x), "w": values(w), "y": values(y), "dx": values(x.grad),
            "weights": weights, "grads": grads}


def main():
    data = {
        "framework": f"torch {torch.__version__}, numpy {numpy.__version__}, float64",
        "network": network_case(),
        "simple_rnn": simple_rnn_case(),
        "masked": masked_case(),
        "masked_rnn": masked_rnn_case(),
        "bidirectional_lstm": bidirectional_case("lstm", 39),
        "bidirectional_gru": bidirectional_case("gru", 40),
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
