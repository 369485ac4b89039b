"""The workloads of WORKLOADS.md for PyTorch (CPU), two threads. One workload per process; prints
one JSON line (see peer_data.report).

  OMP_WAIT_POLICY=PASSIVE python3 bench/torch_workloads.py \
      blog|tabular|fmnist-mlp|fmnist-cnn|infer-mlp|infer-cnn [--data DIR] [--epochs N] [--seed N] [--model FILE.pt]

Keras's defaults made explicit: xavier_uniform_ (= glorot_uniform) weights, zero biases,
Adam(1e-3, betas=(0.9, 0.999), eps=1e-7). The sigmoid and softmax outputs are fused into the
losses (BCEWithLogitsLoss, CrossEntropyLoss: the same model and loss, computed stably) and
applied at inference. Batches come from a fresh torch.randperm each epoch by indexing the whole
tensors (far faster than a DataLoader). OMP_WAIT_POLICY=PASSIVE must be set before torch starts
(the driver sets it); on 2 cores it makes PyTorch several times faster.
"""
import math
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

torch.set_num_threads(2)
import peer_data as pd  # noqa: E402

EPOCHS = {"blog": 10, "tabular": 5, "fmnist-mlp": 5, "fmnist-cnn": 2}


def keras_init(model):
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return model


def binary_mlp(features):
    return keras_init(nn.Sequential(nn.Linear(features, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 1)))


def fashion_model(cnn):
    if not cnn:
        return keras_init(nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                                        nn.Linear(128, 10)))
    return keras_init(nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                                    nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 5 * 5, 128), nn.ReLU(),
                                    nn.Linear(128, 10)))


def fit(model, loss_fn, x, y, epochs, batch):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    model.train()
    n = len(x)
    for _ in range(epochs):
        order = torch.randperm(n)
        for start in range(0, n, batch):
            index = order[start:start + batch]
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(x[index]), y[index]).backward()
            optimizer.step()


def outputs(model, x, batch, binary):
    model.eval()
    with torch.inference_mode():
        logits = torch.cat([model(x[i:i + batch]) for i in range(0, len(x), batch)])
        return (torch.sigmoid(logits) if binary else torch.softmax(logits, dim=1)).numpy()


def train(model, binary, data, epochs, batch):
    x_train, y_train, x_test, y_test = (torch.from_numpy(a) for a in data)
    loss_fn = nn.BCEWithLogitsLoss() if binary else nn.CrossEntropyLoss()
    t0 = pd.now()
    fit(model, loss_fn, x_train, y_train, epochs, batch)
    fit_seconds = pd.now() - t0
    scores = outputs(model, x_test, batch, binary)
    accuracy = pd.binary_accuracy(scores, data[3]) if binary else pd.class_accuracy(scores, data[3])
    return accuracy, fit_seconds


def fashion_data(cnn, train_part=True):
    x, y = pd.load_fashion(train=train_part)
    return np.ascontiguousarray(x[:, None] if cnn else x), y


def main():
    args = pd.parse_args(list(EPOCHS) + ["infer-mlp", "infer-cnn"])
    torch.manual_seed(args.seed)
    w = args.workload
    epochs = args.epochs or EPOCHS.get(w, 0)
    if w in ("blog", "tabular"):
        data = pd.load_blog(args.data) if w == "blog" else pd.load_tabular(args.data)
        accuracy, fit_seconds = train(binary_mlp(data[0].shape[1]), True, data, epochs, 32)
        steps = math.ceil(len(data[0]) / 32) * epochs
        pd.report(accuracy=accuracy, fit_seconds=fit_seconds, steps=steps, steps_per_second=steps / fit_seconds,
                  us_per_step=fit_seconds / steps * 1e6)
    elif w.startswith("fmnist-"):
        cnn = w == "fmnist-cnn"
        data = fashion_data(cnn) + fashion_data(cnn, train_part=False)
        model = fashion_model(cnn)
        accuracy, fit_seconds = train(model, False, data, epochs, 128)
        if args.model:
            torch.save(model.state_dict(), args.model)
        pd.report(accuracy=accuracy, fit_seconds=fit_seconds, samples_per_second=len(data[0]) * epochs / fit_seconds)
    else:
        cnn = w == "infer-cnn"
        model = fashion_model(cnn)
        model.load_state_dict(torch.load(args.model))
        model.eval()
        x, y = fashion_data(cnn, train_part=False)

        def predict(batch):
            with torch.inference_mode():
                return torch.softmax(model(torch.from_numpy(batch)), dim=1).numpy()

        pd.report(**pd.time_inference(predict, predict, x, y))


if __name__ == "__main__":
    main()
