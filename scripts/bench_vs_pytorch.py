"""Times scGPT 0.2.4's own TransformerModel (PyTorch) on the checkpoint and virtual cells that
`cargo bench -p ugrn-backbone-scgpt --bench scgpt -- --side-by-side DIR` timed, checks that both
compute the same readout and derivative, and prints the side-by-side table.

Run by scripts/bench-vs-pytorch.sh, which sets up the virtual environment. Usage:
    python bench_vs_pytorch.py DIR THREADS
"""

import importlib
import importlib.util
import json
import os
import statistics
import sys
import time
import types

import torch
from safetensors.torch import load_file


def scgpt_model_module():
    """scgpt.model.model without running scgpt/__init__.py, which imports the trainer's
    dependencies (torchtext has no build for current PyTorch); the model itself needs only torch."""
    root = os.path.dirname(importlib.util.find_spec("scgpt").origin)
    for name, path in [("scgpt", root), ("scgpt.model", os.path.join(root, "model"))]:
        package = types.ModuleType(name)
        package.__path__ = [path]
        sys.modules[name] = package
    return importlib.import_module("scgpt.model.model")


def load_model(folder):
    with open(os.path.join(folder, "args.json")) as f:
        args = json.load(f)
    with open(os.path.join(folder, "vocab.json")) as f:
        vocab = json.load(f)
    model = scgpt_model_module().TransformerModel(
        ntoken=len(vocab),
        d_model=args["embsize"],
        nhead=args["nheads"],
        d_hid=args["d_hid"],
        nlayers=args["nlayers"],
        vocab=vocab,
        dropout=args["dropout"],
        pad_token=args["pad_token"],
        pad_value=args["pad_value"],
        do_mvc=args["MVC"],
        input_emb_style="continuous",
        n_input_bins=args["n_bins"],
        cell_emb_style="cls",
        mvc_decoder_style="inner product",
        explicit_zero_prob=False,
        use_fast_transformer=False,
        pre_norm=args.get("pre_norm", False) or args.get("norm_scheme") == "pre",
    )
    # The released checkpoints (and ugrn's random ones) use flash-attention's names.
    state = {
        k.replace("self_attn.Wqkv.weight", "self_attn.in_proj_weight").replace(
            "self_attn.Wqkv.bias", "self_attn.in_proj_bias"
        ): v
        for k, v in load_file(os.path.join(folder, "model.safetensors")).items()
    }
    missing, unexpected = model.load_state_dict(state, strict=False)
    # The cell-type classifier is not in the checkpoint and not used by the readout.
    missing = [k for k in missing if not k.startswith("cls_decoder.")]
    if missing or unexpected:
        sys.exit(f"checkpoint does not match TransformerModel: missing {missing}, unexpected {unexpected}")
    model.eval()
    # Inference: no parameter needs a gradient, so jvp builds no backward graph either.
    for p in model.parameters():
        p.requires_grad_(False)
    return model, args, vocab


def virtual_cells(vocab, genes, sources):
    """The cells the ugrn bench timed: <cls> then token ids 0..genes-1 at bin 1, source at 20."""
    cells = len(sources)
    src = torch.cat(
        [torch.full((cells, 1), vocab["<cls>"]), torch.arange(genes).repeat(cells, 1)], dim=1
    )
    values = torch.ones(cells, genes + 1)
    values[:, 0] = 0.0
    tangent = torch.zeros(cells, genes + 1)
    for c, s in enumerate(sources):
        values[c, 1 + s] = 20.0
        tangent[c, 1 + s] = 1.0
    # No padding: no mask, as ugrn passes none.
    return src, values, tangent, None


def forward_flops(args, tokens):
    """Multiply-adds ×2 of one cell's forward (value encoder, encoder layers, expression
    decoder), and the attention's share of them."""
    d, f, layers = args["embsize"], args["d_hid"], args["nlayers"]
    dense = 2 * tokens * (d * d + layers * (4 * d * d + 2 * d * f) + 2 * d * d + d)
    attention = layers * 4 * tokens * tokens * d
    return dense + attention, attention


def timed(call, reps):
    call()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def main():
    folder, threads = sys.argv[1], int(sys.argv[2])
    torch.set_num_threads(threads)
    model, args, vocab = load_model(folder)
    with open(os.path.join(folder, "ugrn.json")) as f:
        ugrn = json.load(f)
    print(
        f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads; ugrn {ugrn['threads']} candle threads; "
        "medians of repetitions after one warm-up call"
    )
    rows = []
    for run in ugrn["runs"]:
        genes, cells, reps = run["genes"], run["cells"], len(run["readout_s"])
        src, values, tangent, padding = virtual_cells(vocab, genes, run["sources"])

        def forward():
            with torch.no_grad():
                return model(src, values, padding)["mlm_output"]

        def jvp():
            # Forward-mode AD has no rule for the fused encoder-layer fast path or the fused
            # attention kernels: the composed layers and the math backend.
            torch.backends.mha.set_fastpath_enabled(False)
            try:
                with torch.nn.attention.sdpa_kernel(torch.nn.attention.SDPBackend.MATH):
                    return torch.func.jvp(lambda v: model(src, v, padding)["mlm_output"], (values,), (tangent,))
            finally:
                torch.backends.mha.set_fastpath_enabled(True)

        readout = forward()[:, 1:]
        derivative = jvp()[1][:, 1:]
        ours = torch.tensor(run["readout"]).reshape(cells, genes)
        ours_d = torch.tensor(run["derivative"]).reshape(cells, genes)
        readout_gap = (readout - ours).abs().max().item()
        derivative_gap = (derivative - ours_d).abs().max().item() / max(derivative.abs().max().item(), 1e-30)
        torch_forward = cells / statistics.median(timed(forward, reps))
        torch_jvp = cells / statistics.median(timed(jvp, reps))
        ugrn_readout = cells / statistics.median(run["readout_s"])
        ugrn_derivative = cells / statistics.median(run["derivative_s"])
        flops, attention = forward_flops(args, genes + 1)
        # Primal and tangent: the tangent repeats every dense product and doubles the attention's.
        derivative_flops = 2 * flops + attention
        rows.append(
            (genes, cells, ugrn_readout, torch_forward, ugrn_derivative, torch_jvp, flops, derivative_flops,
             readout_gap, derivative_gap)
        )
    print()
    print(
        "| context | cells/call | ugrn readout cells/s | PyTorch forward cells/s | ratio | ugrn derivative cells/s "
        "| PyTorch jvp cells/s | ratio | GFLOP/s readout (ugrn, PyTorch) | GFLOP/s derivative (ugrn, PyTorch) "
        "| max |readout gap| | max relative derivative gap |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for genes, cells, ur, tf, ud, tj, flops, dflops, rgap, dgap in rows:
        print(
            f"| {genes} | {cells} | {ur:.2f} | {tf:.2f} | {ur / tf:.2f}× | {ud:.2f} | {tj:.2f} | {ud / tj:.2f}× "
            f"| {ur * flops / 1e9:.0f}, {tf * flops / 1e9:.0f} | {ud * dflops / 1e9:.0f}, {tj * dflops / 1e9:.0f} "
            f"| {rgap:.1e} | {dgap:.1e} |"
        )
    print(
        f"\nFLOP per cell (2 × multiply-adds of the matrix products): forward "
        + ", ".join(f"{r[6] / 1e9:.1f} G at {r[0]}" for r in rows)
        + "; derivative (primal and tangent) "
        + ", ".join(f"{r[7] / 1e9:.1f} G at {r[0]}" for r in rows)
    )
    worst = max(max(r[8] for r in rows), max(r[9] for r in rows))
    if worst > 1e-3:
        sys.exit(f"ugrn and PyTorch disagree (largest gap {worst:.2e}): the comparison is void")


if __name__ == "__main__":
    main()
