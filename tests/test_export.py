"""lstmgen.export and ``lstmgen export``: the one-step ONNX decoder against PyTorch, greedy text through
onnxruntime alone, the sidecar, the docs example, and the command's errors."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lstmgen.cli import build_parser, main
from lstmgen.tokenizers import CharTokenizer

MISSING = [name for name in ("onnx", "onnxruntime", "onnxscript") if importlib.util.find_spec(name) is None]
needs_onnx = pytest.mark.skipif(bool(MISSING), reason=f"{', '.join(MISSING)} not installed (pip install 'lstmgen[onnx]')")
DOCS = Path(__file__).resolve().parents[1] / "docs" / "export.md"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def exported(tiny_run, tmp_path_factory):
    """The tiny trained run exported once: its ExportReport."""
    from lstmgen.export import export_checkpoint

    return export_checkpoint(tiny_run, tmp_path_factory.mktemp("onnx") / "model.onnx")


def onnx_greedy(path: Path, prompts: list[str], length: int) -> list[str]:
    """Greedy continuations through onnxruntime with numpy and the sidecar only: one stream per prompt
    (prompts of one length), each prompt fed one token at a time, the never-generated ids suppressed."""
    import onnxruntime

    sidecar = json.loads(Path(f"{path}.json").read_text(encoding="utf-8"))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    vocabulary = ["<unk>", *sidecar["tokenizer"]["characters"]]
    ids = np.array([[vocabulary.index(symbol) for symbol in prompt] for prompt in prompts], dtype=np.int64)  # [B, P]
    inputs = [entry["input"] for entry in sidecar["state"]]
    outputs = ["logits", *(entry["output"] for entry in sidecar["state"])]
    state = {name: np.zeros((sidecar["num_layers"], len(prompts), sidecar["hidden_size"]), np.float32) for name in inputs}

    def step(tokens: np.ndarray) -> np.ndarray:  # tokens [B] -> logits [B, V]
        nonlocal state
        logits, *new_state = session.run(outputs, {"tokens": tokens[:, None], **state})
        state = dict(zip(inputs, new_state))
        return logits

    for position in range(ids.shape[1]):
        logits = step(ids[:, position])
    chosen = []
    for _ in range(length):
        logits[:, sidecar["never_generated"]] = -np.inf
        tokens = logits.argmax(axis=-1)  # [B]
        chosen.append(tokens)
        logits = step(tokens)
    return ["".join(vocabulary[token] for token in row) for row in np.stack(chosen, axis=1)]


# ----- the tiny trained run ----------------------------------------------------------------------------
@needs_onnx
def test_the_tiny_run_exports_with_a_sidecar_and_matches_pytorch(exported, tiny_run):
    import onnx

    assert exported.path.exists() and exported.sidecar == exported.path.with_name("model.onnx.json")
    assert sorted(p.name for p in exported.path.parent.iterdir()) == ["model.onnx", "model.onnx.json"]  # no staging left
    onnx.checker.check_model(str(exported.path), full_check=True)
    check = exported.check
    assert 0 <= check.max_logit_difference <= 1e-4 and 0 <= check.max_state_difference <= 1e-4
    assert check.batch_sizes == (1, 3) and check.steps >= 2

    sidecar = json.loads(exported.sidecar.read_text(encoding="utf-8"))
    config = json.loads((tiny_run / "best" / "config.json").read_text(encoding="utf-8"))["model"]
    assert sidecar["tokenizer"] == json.loads((tiny_run / "best" / "tokenizer.json").read_text(encoding="utf-8"))
    assert sidecar["never_generated"] == [0]  # the character model's unknown symbol
    assert (sidecar["num_layers"], sidecar["hidden_size"], sidecar["vocab_size"]) == (config["num_layers"], config["hidden_size"], config["vocab_size"])
    layers, hidden, vocab = config["num_layers"], config["hidden_size"], config["vocab_size"]
    assert sidecar["inputs"] == [{"name": "tokens", "type": "int64", "shape": ["batch", 1]},
                                 {"name": "h", "type": "float32", "shape": [layers, "batch", hidden]},
                                 {"name": "c", "type": "float32", "shape": [layers, "batch", hidden]}]
    assert [o["name"] for o in sidecar["outputs"]] == ["logits", "next_h", "next_c"]
    assert sidecar["outputs"][0]["shape"] == ["batch", vocab]
    assert sidecar["state"] == [{"input": "h", "output": "next_h"}, {"input": "c", "output": "next_c"}]
    assert sidecar["check"]["max_abs_logit_difference"] == check.max_logit_difference
    assert sidecar["lstmgen_version"] and sidecar["opset"] == exported.opset == 20


@needs_onnx
def test_greedy_text_through_onnxruntime_is_the_language_models(exported, lm):
    prompts = ["the ", "a st"]  # two streams of one batch
    texts = onnx_greedy(exported.path, prompts, length=80)
    for prompt, text in zip(prompts, texts):
        assert text == lm.generate(prompt, temperature=0, max_tokens=80)
    assert texts[0] != texts[1]  # the streams are really separate


@needs_onnx
def test_the_docs_example_runs_without_torch_and_writes_the_greedy_text(exported, lm, tmp_path):
    blocks = re.findall(r"<!-- example: generate_onnx\.py[^>]*-->\n```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1, "docs/export.md must hold one example block marked <!-- example: generate_onnx.py ... -->"
    script = tmp_path / "generate_onnx.py"
    script.write_text(blocks[0], encoding="utf-8")
    # Run it as a user would, then report whether anything imported torch or lstmgen on the way.
    runner = ("import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__'); "
              "print(sorted(m for m in ('torch', 'lstmgen') if m in sys.modules), file=sys.stderr)")
    result = subprocess.run([sys.executable, "-I", "-c", runner, str(script), str(exported.path), "the ", "60"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "the " + lm.generate("the ", temperature=0, max_tokens=60) + "\n"
    assert result.stderr.strip().splitlines()[-1] == "[]"
    sampled = subprocess.run([sys.executable, "-I", str(script), str(exported.path), "the ", "30", "0.8"],
                             capture_output=True, text=True, timeout=120)
    assert sampled.returncode == 0, sampled.stderr
    assert sampled.stdout.startswith("the ") and len(sampled.stdout) == len("the ") + 30 + 1  # one character per token


# ----- every cell type, tied weights ------------------------------------------------------------------
@needs_onnx
@pytest.mark.parametrize("cell, num_layers, tie_weights, dropout", [
    ("lstm", 2, False, 0.3), ("lstm", 1, True, 0.0), ("gru", 1, False, 0.0), ("rnn", 2, True, 0.3), ("mogrifier", 2, False, 0.3)])
def test_every_cell_matches_pytorch_on_carried_state(tiny_model, tmp_path, cell, num_layers, tie_weights, dropout):
    import onnxruntime

    from lstmgen.export import export_onnx

    model = tiny_model(cell=cell, num_layers=num_layers, tie_weights=tie_weights, dropout=dropout).train()
    tokenizer = CharTokenizer("abcdefghijklmnopqrstuvwxyz.,;")  # 29 characters + the unknown symbol = 30 ids
    report = export_onnx(model, tokenizer, tmp_path / "m.onnx")  # a model in training mode exports without dropout
    assert report.check.max_logit_difference <= 1e-4 and report.check.max_state_difference <= 1e-4
    assert model.training  # and is left in the mode it came in
    model.eval()

    # An independent check from a random (not fresh) state and another batch size.
    sidecar = json.loads(report.sidecar.read_text(encoding="utf-8"))
    names = [entry["input"] for entry in sidecar["state"]]
    assert names == (["h", "c"] if cell in ("lstm", "mogrifier") else ["h"]) and sidecar["cell"] == cell
    session = onnxruntime.InferenceSession(str(report.path), providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(1)
    state = tuple(torch.randn(num_layers, 5, 24, generator=generator) for _ in names)
    onnx_state = {name: s.numpy() for name, s in zip(names, state)}
    for _ in range(3):
        tokens = torch.randint(30, (5, 1), generator=generator)
        with torch.no_grad():
            logits, state = model(tokens, state)
        onnx_logits, *onnx_new = session.run(["logits", *(f"next_{n}" for n in names)], {"tokens": tokens.numpy(), **onnx_state})
        np.testing.assert_allclose(onnx_logits, logits[:, -1].numpy(), atol=1e-5, rtol=0)
        for mine, theirs in zip(onnx_new, state):
            np.testing.assert_allclose(mine, theirs.numpy(), atol=1e-5, rtol=0)
        onnx_state = dict(zip(names, onnx_new))


@needs_onnx
def test_a_graph_that_differs_from_the_model_fails_loudly_and_writes_nothing(exported, tiny_run, tmp_path, monkeypatch):
    from lstmgen import export
    from lstmgen.checkpoint import load_checkpoint

    loaded = load_checkpoint(tiny_run)
    with torch.no_grad():
        loaded.model.output.bias.add_(0.01)  # the graph on disk no longer matches this model
    with pytest.raises(export.ExportError, match=r"does not match PyTorch: max abs difference 0\.01"):
        export.verify_onnx(exported.path, loaded.model)
    # Through export_onnx, with the exporter replaced by a copy of that stale graph: nothing is left behind.
    monkeypatch.setattr(export, "_export_graph", lambda model, path, opset: shutil.copyfile(exported.path, path))
    out = tmp_path / "out"
    with pytest.raises(export.ExportError, match="nothing was written"):
        export.export_onnx(loaded.model, loaded.tokenizer, out / "model.onnx")
    assert list(out.iterdir()) == []


# ----- the command -------------------------------------------------------------------------------------
@needs_onnx
def test_the_command_exports_and_reports_the_difference(capsys, tiny_run, tmp_path):
    out = tmp_path / "nested" / "tiny.onnx"
    code, stdout, stderr = run(capsys, "export", tiny_run, "--format", "onnx", "--out", out, "--opset", "18")
    assert code == 0, stderr
    lines = stdout.splitlines()
    assert lines[0].startswith(f"wrote {out} (") and "opset 18" in lines[0] and lines[0].endswith(f"{out}.json")
    difference = float(re.search(r"max abs difference (\S+) in the logits", lines[1]).group(1))
    sidecar = json.loads(Path(f"{out}.json").read_text(encoding="utf-8"))
    assert difference == pytest.approx(sidecar["check"]["max_abs_logit_difference"], rel=1e-2) and difference <= 1e-4
    assert sidecar["opset"] == 18 and sidecar["checkpoint"] == str(tiny_run / "best")


@needs_onnx
@pytest.mark.parametrize("argv, message", [
    (["export", "/no/such/run"], "does not exist"),
    (["export", "{run}", "--opset", "5"], "could not convert the graph to opset 5"),
    (["export", "{run}", "--tolerance", "-1"], "tolerance must be >= 0"),
    (["export", "{run}", "--out", "{tmp}"], "is a directory"),
])
def test_command_errors_are_one_clear_line(capsys, tiny_run, tmp_path, argv, message):
    argv = [a.replace("{run}", str(tiny_run)).replace("{tmp}", str(tmp_path)) for a in argv]
    code, _, err = run(capsys, *argv, *(["--out", tmp_path / "m.onnx"] if "--out" not in argv else []))
    assert code == 2 and err.startswith("lstmgen: error:") and message in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "m.onnx").exists()


def test_an_unknown_format_is_one_clear_line(capsys, tiny_run, tmp_path):
    code, _, err = run(capsys, "export", tiny_run, "--format", "tflite", "--out", tmp_path / "m.tflite")
    assert code == 2 and err == "lstmgen: error: unknown export format 'tflite'; known: onnx (--format onnx)\n"


def test_without_onnxruntime_the_command_says_what_to_install(capsys, tiny_run, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` now raises ImportError
    code, _, err = run(capsys, "export", tiny_run, "--out", tmp_path / "m.onnx")
    assert code == 2 and "onnxruntime" in err and "pip install 'lstmgen[onnx]'" in err
    assert len(err.strip().splitlines()) == 1 and list(tmp_path.iterdir()) == []


def test_help_imports_neither_torch_nor_onnx():
    code = ("import sys; from lstmgen.cli import build_parser; build_parser(['export', '--help']).format_help(); "
            "print(sorted(m for m in sys.modules if m in ('torch', 'onnx', 'onnxruntime', 'onnxscript', 'lstmgen.export')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]"
    result = subprocess.run([sys.executable, "-m", "lstmgen", "export", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "usage: lstmgen export" in result.stdout and "--opset" in result.stdout


def test_the_command_defaults_are_the_librarys():
    from lstmgen.export import DEFAULT_OPSET, TOLERANCE

    args = build_parser(["export"]).parse_args(["export", "run"])
    assert (args.format, args.out, args.opset, args.tolerance) == ("onnx", "model.onnx", DEFAULT_OPSET, TOLERANCE)


@needs_onnx
def test_an_adaptive_softmax_exports_its_whole_distribution(tiny_model, tmp_path):
    import onnxruntime

    from lstmgen.export import export_onnx

    model = tiny_model(adaptive_softmax=(8, 20))  # a head of 8 ids and two clusters over the 30
    report = export_onnx(model, CharTokenizer("abcdefghijklmnopqrstuvwxyz.,;"), tmp_path / "m.onnx")
    assert report.check.max_logit_difference <= 1e-4  # checked against PyTorch by the export itself; and here:
    session = onnxruntime.InferenceSession(str(report.path), providers=["CPUExecutionProvider"])
    tokens = torch.tensor([[3], [25]])
    state = model.init_state(2)
    (onnx_logits,) = session.run(["logits"], {"tokens": tokens.numpy(), "h": state[0].numpy(), "c": state[1].numpy()})
    np.testing.assert_allclose(np.exp(onnx_logits).sum(-1), [1.0, 1.0], atol=1e-5)  # log-probabilities over all 30 ids
    with torch.no_grad():
        np.testing.assert_allclose(onnx_logits, model(tokens, state)[0][:, -1].numpy(), atol=1e-5, rtol=0)


@needs_onnx
def test_a_model_reading_its_label_beside_every_token_exports_its_label_state(tiny_model, tmp_path):
    import onnxruntime

    from lstmgen.export import export_onnx
    from lstmgen.tokenizers import LabelledTokenizer, fit_vocabulary

    tokenizer = LabelledTokenizer(fit_vocabulary("char", ["the cat sat.\n"], documents=True), ["a", "b"])
    model = tiny_model(vocab_size=tokenizer.vocab_size, label_inputs=2)
    report = export_onnx(model, tokenizer, tmp_path / "m.onnx")
    names = [entry["input"] for entry in json.loads(report.sidecar.read_text(encoding="utf-8"))["state"]]
    assert names == ["h", "c", "label"]
    session = onnxruntime.InferenceSession(str(report.path), providers=["CPUExecutionProvider"])
    state = model.init_state(2)
    onnx_state = {name: s.numpy() for name, s in zip(names, state)}
    for token in (tokenizer.label_id("b"), *tokenizer.encode("the cat")):  # the label, then text read under it
        tokens = torch.full((2, 1), int(token))
        with torch.no_grad():
            logits, state = model(tokens, state)
        onnx_logits, *onnx_state_list = session.run(["logits", *(f"next_{n}" for n in names)], {"tokens": tokens.numpy(), **onnx_state})
        np.testing.assert_allclose(onnx_logits, logits[:, -1].numpy(), atol=1e-5, rtol=0)
        onnx_state = dict(zip(names, onnx_state_list))
    assert onnx_state["label"].ravel().tolist() == [2.0, 2.0]  # label "b" is row 2 of the label embedding
