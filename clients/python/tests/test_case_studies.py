"""scripts/case-studies/gender-bias-mt end to end on the tiny random Marian: its table and JSON
agree with the daemon's own attribute results, and its HTML page holds the table and a heatmap
per sentence."""

import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conftest import REPOSITORY  # noqa: E402

SCRIPT = REPOSITORY / "scripts" / "case-studies" / "gender-bias-mt"
MARIAN = str(REPOSITORY / "Tests" / "Fixtures" / "models" / "tiny-marian")
SENTENCES = [
    ("The doctor saw her.", "doctor", "her", "La dottoressa.", "Il dottore."),
    ("The engineer lost her work.", "engineer", "her", "ingegnera", "ingegnere"),
]


def run(binary, tmp_path, *extra):
    tsv = tmp_path / "sentences.tsv"
    tsv.write_text("source\toccupation\tpronoun\tfeminine\tmasculine\n"
                   + "".join("\t".join(row) + "\n" for row in SENTENCES), encoding="utf-8")
    return subprocess.run([sys.executable, str(SCRIPT), "--model", MARIAN, "--sentences", str(tsv), *extra],
                          env=dict(os.environ, SEQLENS_BIN=binary), capture_output=True, text=True, timeout=120)


def test_report_equals_the_daemons_attributions(binary, lens, tmp_path):
    done = run(binary, tmp_path, "--json")
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert len(results) == 2
    lens.load_model(MARIAN, id="mt")
    for (source, occupation, pronoun, feminine, masculine), result in zip(SENTENCES, results):
        attribution = lens.attribute("mt", source, feminine, method="input_x_gradient", attributed_fn="contrast_prob_diff",
                                     contrast_targets=masculine, contrast_targets_alignments=[result["alignment"]],
                                     step_scores=["contrast_prob_diff", "probability"])[0]
        steps = attribution.target[attribution.attr_pos_start:attribution.attr_pos_end]
        # The reported step is the first whose feminine and masculine tokens differ.
        assert result["step"] == min(k for k, token in enumerate(steps) if token.id == -1)
        step = result["step"]
        assert abs(result["contrast_prob_diff"] - attribution.step_scores["contrast_prob_diff"][step]) < 1e-6
        column = [row[step] for row in attribution.source_attributions]
        for word, entry in ((occupation, result["occupation"]), (pronoun, result["pronoun"])):
            assert entry["word"] == word
            # The word's tokens spell it (SentencePiece pieces, "▁" for the space before it).
            assert "".join(attribution.source[i].token for i in entry["indices"]).lstrip("▁").lower() == word
            assert abs(entry["score"] - sum(column[i] for i in entry["indices"])) < 1e-6
            assert entry["rank"] == 1 + sum(value > max(column[i] for i in entry["indices"]) for value in column)


def test_table_and_html_page(binary, tmp_path):
    page = tmp_path / "report.html"
    done = run(binary, tmp_path, "--html", str(page))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].split()[:3] == ["#", "occupation", "score"] and len(lines) == 3
    assert lines[1].split()[1] == "doctor" and lines[2].split()[1] == "engineer"

    class Collector(HTMLParser):
        tables, headings = 0, []

        def handle_starttag(self, tag, attrs):
            if tag == "table":
                Collector.tables += 1

        def handle_data(self, data):
            if self.lasttag == "h2":
                Collector.headings.append(data)

    Collector().feed(page.read_text(encoding="utf-8"))
    assert Collector.tables == 2 and Collector.headings == ["1. The doctor saw her.", "2. The engineer lost her work."]


def test_bad_input_is_a_clear_error(binary, tmp_path):
    tsv = tmp_path / "broken.tsv"
    tsv.write_text("source\toccupation\tpronoun\tfeminine\tmasculine\nThe cook.\tcook\t\tLa cuoca.\tIl cuoco.\n")
    done = subprocess.run([sys.executable, str(SCRIPT), "--model", MARIAN, "--sentences", str(tsv)],
                          env=dict(os.environ, SEQLENS_BIN=binary), capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "missing pronoun" in done.stderr
    gpt2 = str(Path(REPOSITORY) / "Tests" / "Fixtures" / "models" / "tiny-gpt2")
    done = subprocess.run([sys.executable, str(SCRIPT), "--model", gpt2], env=dict(os.environ, SEQLENS_BIN=binary),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "needs an encoder-decoder" in done.stderr
