import io

import pytest

from lstmgen.cli import main


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_generate_with_every_sampling_option(tiny_run, capsys):
    code, out, _ = run(capsys, "generate", tiny_run, "--prompt", "the ", "--length", "40", "--temperature", "0.9", "--top-k", "20",
                       "--top-p", "0.95", "--min-p", "0.01", "--repetition-penalty", "1.1", "--no-repeat-ngram-size", "5",
                       "--seed", "2", "--threads", "1")
    assert code == 0 and out.startswith("the ") and len(out) == len("the ") + 40 + 1


def test_generate_beam_search_prints_the_n_best_with_log_probabilities(tiny_run, capsys):
    code, out, _ = run(capsys, "generate", tiny_run, "--prompt", "the ", "--length", "20", "--num-beams", "3",
                       "--num-samples", "2", "--threads", "1")
    assert code == 0
    headers = [line for line in out.splitlines() if line.startswith("=== beam")]
    assert len(headers) == 2 and "log-probability" in headers[0]
    first = float(headers[0].split("log-probability ")[1].split()[0])
    second = float(headers[1].split("log-probability ")[1].split()[0])
    assert first >= second


def test_generate_rejects_beam_search_with_sampling_options(tiny_run, capsys):
    code, _, err = run(capsys, "generate", tiny_run, "--num-beams", "3", "--temperature", "0.5")
    assert code == 2 and "ignores temperature" in err


def test_interactive_streams_and_shows_candidates(tiny_run, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("the q\n\nZebra\n"))
    code, out, err = run(capsys, "generate", tiny_run, "--interactive", "--length", "15", "--seed", "1", "--threads", "1")
    assert code == 0
    lines = out.splitlines()
    candidate_lines = [line for line in lines if "next: " in line]
    assert len(candidate_lines) == 2 and "%" in candidate_lines[0]
    texts = [line for line in lines if line.startswith("the q")]
    assert len(texts) == 2 and len(texts[1]) == len(texts[0]) + 15  # an empty line continues the text
    assert "vocabulary lacks" in err  # 'Z' is unknown: reported, and the loop goes on to the end of input


def test_generate_takes_openais_penalties_and_a_logit_bias(tiny_run, capsys):
    from lstmgen import LanguageModel

    lm = LanguageModel.load(tiny_run)
    q = lm.tokenizer.encode("q").tolist()[0]
    code, out, _ = run(capsys, "generate", tiny_run, "--prompt", "the ", "--length", "10", "--logit-bias", f"{q}=100", "--seed", "1")
    assert code == 0 and out == "the " + "q" * 10 + "\n"
    settings = dict(max_tokens=30, temperature=0, presence_penalty=1.5, frequency_penalty=-0.5)
    code, out, _ = run(capsys, "generate", tiny_run, "--prompt", "the ", "--length", "30", "--temperature", "0",
                       "--presence-penalty", "1.5", "--frequency-penalty", "-0.5")
    assert code == 0 and out == "the " + lm.generate("the ", **settings) + "\n"
    with pytest.raises(SystemExit):  # argparse refuses the flag's form
        run(capsys, "generate", tiny_run, "--logit-bias", "q=1")
    assert "expected TOKEN_ID=NUMBER" in capsys.readouterr().err
    for flags, message in ((["--logit-bias", "100000=1"], "outside this model's vocabulary"),
                           (["--presence-penalty", "3"], "presence_penalty must be in [-2, 2]")):
        code, _, err = run(capsys, "generate", tiny_run, "--length", "5", *flags)
        assert code != 0 and message in err, (flags, err)
