"""PyTorch reference for `leadlight bench --pytorch`: the CPU integrated gradients Leadlight is compared with.

Issue #6 sets Leadlight's speed against "PyTorch's CPU IG" of the Ribeiro et al. 2020 network. This script is that
baseline, written independently of Leadlight's converter: it rebuilds the Keras functional model from the HDF5's
own `model_config` attribute (Conv1D, BatchNormalization, Activation, MaxPooling1D, Add, Dropout, Flatten, Dense,
with TensorFlow's "same" padding rule), loads the weights with h5py, and computes integrated gradients of one class
logit with a zero baseline and the paper's left Riemann sum over alpha = k/N, k = 0..N-1 (Sundararajan et al. 2017;
iNNvestigate's semantics, as in Bender et al. 2023), by `torch.autograd.grad` with respect to the input only.

Needs torch, h5py and numpy (Debian: python3-torch python3-h5py). Prints one JSON line: timings, logits and the IG
sum; with --golden JSON it also reports the largest deviation from the golden logits and IG map.

    python3 pytorch_ig.py --weights model.hdf5 --input A0003.input.f32 --class 4 --steps 64 --threads 1
"""
import argparse
import json
import math
import time

T_START = time.perf_counter()

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def same_padding(length, kernel, stride):
    """TensorFlow's "same": total = max((ceil(n/s) - 1) * s + k - n, 0), the smaller half on the left."""
    total = max((math.ceil(length / stride) - 1) * stride + kernel - length, 0)
    return total // 2, total - total // 2


class KerasGraph:
    """The layers of a Keras functional model_config, evaluated in order on (N, C, L) tensors."""

    def __init__(self, h5):
        config = json.loads(h5.attrs["model_config"])
        config = config.get("config", config)
        self.layers = config["layers"]
        self.inputs = [name for name, _, _ in config["input_layers"]]
        self.output = config["output_layers"][0][0]
        weights = h5["model_weights"] if "model_weights" in h5 else h5
        self.params = {}
        for layer in self.layers:
            name = layer["name"]
            if name not in weights:
                continue
            group = weights[name]
            names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs.get("weight_names", [])]
            self.params[name] = {n.split("/")[-1].split(":")[0]: torch.from_numpy(np.array(group[n], dtype=np.float32)) for n in names}
        for layer in self.layers:
            p = self.params.get(layer["name"], {})
            if layer["class_name"] == "Conv1D":
                p["kernel"] = p["kernel"].permute(2, 1, 0).contiguous()  # (k, in, out) -> (out, in, k)
            if layer["class_name"] == "BatchNormalization":
                eps = layer["config"]["epsilon"]
                scale = p.get("gamma", torch.ones_like(p["moving_mean"])) / torch.sqrt(p["moving_variance"] + eps)
                p["scale"] = scale
                p["shift"] = p.get("beta", torch.zeros_like(scale)) - p["moving_mean"] * scale

    def __call__(self, x):
        values = {self.inputs[0]: x.transpose(1, 2)}  # (N, L, C) -> (N, C, L)
        for layer in self.layers:
            kind, cfg, name = layer["class_name"], layer["config"], layer["name"]
            if kind == "InputLayer":
                continue
            ins = [values[node[0]] for node in layer["inbound_nodes"][0]]
            h = ins[0]
            p = self.params.get(name, {})
            if kind == "Conv1D":
                k, s = cfg["kernel_size"][0], cfg["strides"][0]
                if cfg["padding"] == "same":
                    h = F.pad(h, same_padding(h.shape[2], k, s))
                h = F.conv1d(h, p["kernel"], p.get("bias"), stride=s)
                h = activate(h, cfg["activation"])
            elif kind == "BatchNormalization":
                h = h * p["scale"][None, :, None] + p["shift"][None, :, None]
            elif kind == "Activation":
                h = activate(h, cfg["activation"])
            elif kind == "MaxPooling1D":
                k, s = cfg["pool_size"][0], cfg["strides"][0]
                if cfg["padding"] == "same":
                    h = F.pad(h, same_padding(h.shape[2], k, s), value=-math.inf)
                h = F.max_pool1d(h, k, s)
            elif kind == "Add":
                h = sum(ins[1:], ins[0])
            elif kind == "Dropout":
                pass
            elif kind == "Flatten":
                h = h.transpose(1, 2).reshape(h.shape[0], -1)  # Keras flattens (time, channel) row-major
            elif kind == "Dense":
                h = h @ p["kernel"] + p["bias"] if "bias" in p else h @ p["kernel"]
                # the class LOGIT is attributed (Bender et al. 2023): the output activation is left out
                if name != self.output:
                    h = activate(h, cfg["activation"])
            else:
                raise SystemExit(f"pytorch_ig.py: layer class {kind} is not supported")
            values[name] = h
        return values[self.output]


def activate(h, name):
    if name == "linear":
        return h
    if name == "relu":
        return F.relu(h)
    raise SystemExit(f"pytorch_ig.py: activation {name} is not supported")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", required=True, help="Keras HDF5 (model_config attribute and model_weights)")
    parser.add_argument("--input", required=True, help="model input, float32 LE, (samples, leads) row-major, mV")
    parser.add_argument("--leads", type=int, default=12)
    parser.add_argument("--class", dest="class_index", type=int, required=True)
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8, help="interpolation points per backward pass")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--golden", help="golden JSON next to the .f32 files (logits, ig64 map)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    t_imported = time.perf_counter()
    with h5py.File(args.weights, "r") as h5:
        model = KerasGraph(h5)
    x = torch.from_numpy(np.fromfile(args.input, dtype="<f4").reshape(-1, args.leads)).unsqueeze(0)
    with torch.no_grad():
        logits = model(x)[0]
    t_loaded = time.perf_counter()

    total = torch.zeros_like(x[0], dtype=torch.float64)
    alphas = [k / args.steps for k in range(args.steps)]
    for start in range(0, args.steps, args.batch):
        chunk = torch.tensor(alphas[start:start + args.batch], dtype=torch.float32)
        xs = (chunk[:, None, None] * x).requires_grad_(True)
        out = model(xs)[:, args.class_index].sum()
        (grad,) = torch.autograd.grad(out, xs)
        total += grad.sum(0).double()
    ig = (x[0].double() * total / args.steps).float()
    t_done = time.perf_counter()

    with torch.no_grad():
        logit_zero = model(torch.zeros_like(x))[0, args.class_index].item()
    report = {
        "threads": args.threads,
        "torch": torch.__version__,
        "steps": args.steps,
        "batch": args.batch,
        "importSeconds": t_imported - T_START,
        "loadSeconds": t_loaded - t_imported,
        "igSeconds": t_done - t_loaded,
        "logits": logits.tolist(),
        "igSum": ig.double().sum().item(),
        "expected": logits[args.class_index].item() - logit_zero,
    }
    if args.golden:
        with open(args.golden) as f:
            golden = json.load(f)
        folder = args.golden.rsplit("/", 1)[0] if "/" in args.golden else "."
        golden_ig = np.fromfile(f"{folder}/{golden['integrated_gradients']['file']}", dtype="<f4")
        mine = ig.numpy().ravel()
        report["maxLogitError"] = float(np.max(np.abs(np.array(golden["logits"]) - logits.double().numpy())))
        report["igMaxAbsErrorOverMaxAbs"] = float(np.max(np.abs(mine - golden_ig)) / np.max(np.abs(golden_ig)))
    report["processSeconds"] = time.perf_counter() - T_START
    print(json.dumps(report))


if __name__ == "__main__":
    main()
