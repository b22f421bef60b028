"""Every command and code block of the README and the docs, executed as written.

Each page's ``bash`` and ``python`` blocks run in order, in a fresh folder, in one driver
process (so a Python block sees the files an earlier command wrote, and the variables of
the page's earlier Python blocks). Commands that are long at full scale run at tiny scale:
the same command with arguments added, each addition listed in :data:`TINY` with the reason
(``--models TINY`` is the tiny component set ``multisc models make-tiny`` writes). A
synopsis line's optional parts (``[--json]``) are left out of the run and checked instead:
each flag they name must be one the command's ``--help`` lists. ``yaml`` blocks must load
as run configs. The site itself must build with ``mkdocs build --strict``.

The set-up commands are not run here (they install into this very environment): the
README's test command must be ``.ci/run``'s, which CI runs on a clean clone.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)

#: Commands that set up the environment the tests run in: what checks them instead.
SET_UP = {
    "python3 -m venv": "CI creates the environment from a clean clone (.ci/run)",
    "pip install -e": "CI installs the package from a clean clone (.ci/run)",
    ".venv/bin/pip install": "CI installs the package from a clean clone (.ci/run)",
    "source .venv/bin/activate": "the tests run inside the environment",
    ".venv/bin/python -m pytest": "the test suite itself (.ci/run)",
    "(command -v chromium": "the README's test command, .ci/run's (checked below)",
    "pip install ./examples/plugin-scheme": "tests/test_plugin_example.py installs it",
}


@dataclass(frozen=True)
class Tiny:
    """What a test changes in a long command: ``add`` flags (with their values) when the
    command lacks them, ``force`` flags set whatever the command says."""

    pattern: str  # a regular expression matched at the start of the command
    why: str
    add: tuple[str, ...] = ()
    force: tuple[str, ...] = ()


#: What the test changes in long commands, and why. ``{tiny}``: the tiny component set.
TINY = (
    Tiny(
        r"multisc run --channel nr",
        "one photo, one SNR, one scheme; a fixed MCS (auto measures thresholds for minutes)",
        add=(
            "--models",
            "{tiny}",
            "--limit",
            "1",
            "--snr",
            "12",
            "--schemes",
            "deep_jscc",
            "--mcs",
            "10",
        ),
    ),
    Tiny(
        r"multisc run",
        "tiny models, one photo, one SNR",
        add=("--models", "{tiny}", "--limit", "1", "--snr", "0"),
    ),
    Tiny(
        r"multisc transmit",
        "tiny models, 2 diffusion steps",
        add=("--models", "{tiny}", "--steps", "2"),
    ),
    Tiny(r"multisc ber --link nr", "2 transport blocks", force=("--blocks", "2")),
    Tiny(
        r"multisc jscc train",
        "2 steps of 2 small crops",
        add=("--steps", "2", "--batch", "2", "--crop", "32"),
    ),
    Tiny(r"multisc corrector pairs", "tiny LLaVA for the captions", add=("--models", "{tiny}")),
    Tiny(
        r"multisc corrector train",
        "the tiny BART as the base, 2 steps of 2, on the CPU",
        add=("--base", "{tiny}/corrector"),
        force=("--steps", "2", "--batch", "2", "--device", "cpu"),
    ),
    Tiny(r"multisc corrector eval", "the tiny BART as `bart`", add=("--models", "{tiny}")),
    Tiny(
        r"multisc captioner train",
        "the tiny LLaVA as the base, 2 steps, on the CPU",
        add=("--models", "{tiny}", "--global-batch", "1"),
        force=("--max-steps", "2", "--device", "cpu"),
    ),
    Tiny(
        r"multisc captioner eval",
        "tiny captioners, two photos, 4-token captions",
        add=("--models", "{tiny}", "--limit", "2", "--caption-tokens", "4"),
    ),
    Tiny(
        r"multisc segmenter eval",
        "tiny (random, real-architecture) segmenters at a 64-pixel input",
        add=("--models", "{tiny}", "--resize", "64"),
    ),
    Tiny(r"multisc models make-tiny DIR", "one component", add=("--only", "corrector")),
    Tiny(
        r"multisc models make-random",
        "one component (FCN-ResNet50, 141 MB) of the 10.9 GB set",
        add=("--only", "segmenter"),
    ),
    Tiny(r"multisc models pull", "one component, from a loopback Hub", add=("corrector",)),
)


def _pairs(flags: tuple[str, ...]) -> list[list[str]]:
    """``("--a", "1", "--b", "pos")`` as ``[["--a", "1"], ["--b"], ["pos"]]``: a flag
    takes the next word as its value unless that word is a flag too."""
    out: list[list[str]] = []
    for word in flags:
        if out and out[-1][0].startswith("--") and len(out[-1]) == 1 and not word.startswith("--"):
            out[-1].append(word)
        else:
            out.append([word])
    return out


def tiny_arguments(argv: list[str]) -> tuple[list[str], list[str], str]:
    """(``argv`` with the forced values set, what the test appends, why): :data:`TINY`."""
    text = " ".join(argv)
    rule = next((r for r in TINY if re.match(r.pattern, text)), None)
    if rule is None:
        return argv, [], ""
    argv = list(argv)
    added: list[str] = []
    for pair in _pairs(rule.force):
        if pair[0] in argv and len(pair) == 2:
            argv[argv.index(pair[0]) + 1] = pair[1]
        else:
            added += pair
    for pair in _pairs(rule.add):
        if pair[0] not in argv:
            added += pair
    return argv, added, rule.why


#: Placeholders of synopsis lines, and what stands for them here.
PLACEHOLDERS = {
    "photo.png": "photo.png",  # written into the folder before the page runs
    "RUN_DIR": "{last_run}",
    "RUN_A": "{previous_run}",
    "RUN_B": "{last_run}",
}


def _placeholder(token: str, argv: list[str]) -> str:
    """What stands for ``token`` here (``DIR``: a new folder named for the command)."""
    if token == "DIR":
        return "-".join(w for w in argv[1:3] if not w.startswith("-")) + "-dir"
    return PLACEHOLDERS.get(token, token)


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    lang: str
    code: str


def blocks(page: str) -> list[Block]:
    text = (ROOT / page).read_text()
    return [
        Block(page, text.count("\n", 0, m.start()) + 1, m.group(1), m.group(2))
        for m in FENCE.finditer(text)
    ]


def logical_lines(code: str) -> list[str]:
    """Lines with their ``\\`` continuations joined."""
    return [line for line in code.replace("\\\n", " ").splitlines() if line.strip()]


def set_up_reason(command: str) -> str | None:
    return next((why for start, why in SET_UP.items() if command.startswith(start)), None)


def split_synopsis(tokens: list[str]) -> tuple[list[str], list[str]]:
    """(the tokens outside ``[...]``, the flags named inside)."""
    kept, optional, depth = [], [], 0
    for token in tokens:
        opens = len(token) - len(token.lstrip("["))
        depth += opens
        bare = token.strip("[]")
        if depth:
            if bare.startswith("--"):
                optional.append(bare.split("=")[0])
        elif bare != "...":
            kept.append(token)
        depth -= len(token) - len(token.rstrip("]"))
    return kept, optional


def commands(block: Block) -> list[tuple[str, list[str], list[str]]]:
    """Each command of a bash block: (how it reads, its argv, the optional flags named);
    set-up commands are left out (see :data:`SET_UP`)."""
    out = []
    for line in logical_lines(block.code):
        if line.startswith("(") and set_up_reason(line):  # a compound set-up command
            continue
        for part in re.split(r"\s&&\s", line):
            part = part.strip()
            if not part or part.startswith("#") or set_up_reason(part):
                continue
            tokens = shlex.split(part, comments=True)
            if not tokens:
                continue
            if tokens[0] == ".venv/bin/multisc":
                tokens[0] = "multisc"
            where = f"{block.page}:{block.line}"
            assert tokens[0] == "multisc", f"{where}: not a command we run: {part}"
            kept, optional = split_synopsis(tokens)
            out.append((part, kept, optional))
    return out


def plan(page: str) -> list[dict]:
    """The steps a page's driver runs."""
    steps = []
    for block in blocks(page):
        if block.lang == "python":
            steps.append({"kind": "python", "where": f"{page}:{block.line}", "code": block.code})
        elif block.lang in ("bash", "sh"):
            for text, argv, _ in commands(block):
                changed, added, why = tiny_arguments(argv)
                if changed != argv:
                    forced = [b for a, b in zip(argv, changed, strict=True) if a != b]
                    why = f"{why} (sets {' '.join(forced)})"
                argv = [_placeholder(token, changed) for token in changed]
                steps.append({
                    "kind": "command", "where": f"{page}:{block.line}", "text": text,
                    "argv": argv[1:], "added": added, "why": why,
                })  # fmt: skip
    return steps


DRIVER = r"""
import json, os, re, subprocess, sys, traceback
steps = json.loads(open("steps.json").read())
tiny = sys.argv[1]
runs = []
namespace = {"__name__": "__main__"}
for step in steps:
    print(f"--- {step['where']}: {step.get('text', 'python block')}", flush=True)
    if step["kind"] == "python":
        try:
            exec(compile(step["code"], step["where"], "exec"), namespace)
        except Exception:
            traceback.print_exc()
            sys.exit(f"FAILED {step['where']}: python block")
        continue
    fill = {"tiny": tiny, "last_run": runs[-1] if runs else "",
            "previous_run": runs[-2] if len(runs) > 1 else ""}
    argv = [a.format(**fill) if re.fullmatch(r"\{\w+\}(/.*)?", a) else a
            for a in step["argv"] + step["added"]]
    if step["added"]:
        print(f"    (the test adds {' '.join(step['added'])}: {step['why']})", flush=True)
    print("    $ multisc " + " ".join(argv), flush=True)
    done = subprocess.run([sys.executable, "-m", "multisc.cli", *argv], capture_output=True,
                          text=True)
    print(done.stdout[-3000:], done.stderr[-3000:], sep="\n", flush=True)
    if done.returncode != 0:
        sys.exit(f"FAILED {step['where']}: {step['text']} (exit {done.returncode})")
    found = re.search(r"run directory: (\S+)", done.stdout + done.stderr)
    if found:
        runs.append(found.group(1))
print("ALL STEPS PASSED", flush=True)
"""


# -- the fast checks -----------------------------------------------------------------------


def test_the_readme_is_a_front_door_and_its_test_command_is_ci():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    bash = [b for b in blocks("README.md") if b.lang == "bash"]
    assert len(bash) == 2  # the two set-up commands
    ci = (ROOT / ".ci" / "run").read_text()
    assert bash[1].code.strip() in ci
    assert "multisc run" in bash[0].code


@pytest.mark.parametrize("page", PAGES)
def test_every_synopsis_flag_is_one_the_command_has(page):
    helps: dict[str, str] = {}
    for block in blocks(page):
        if block.lang not in ("bash", "sh"):
            continue
        for text, argv, optional in commands(block):
            words = [a for a in argv[1:] if not a.startswith("-")]
            name = (
                " ".join(words[:2])
                if words[:1]
                in (["models"], ["jscc"], ["corrector"], ["schemes"], ["captioner"], ["segmenter"])
                else " ".join(words[:1])
            )
            if name not in helps:
                helps[name] = _help(name, f"{page}:{block.line}")
            for flag in [*optional, *(a.split("=")[0] for a in argv if a.startswith("--"))]:
                assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", helps[name]), (
                    f"{page}:{block.line}: `{text}` names {flag}, which `multisc {name}` lacks"
                )


def _help(name: str, where: str) -> str:
    """``multisc NAME --help`` as a user reads it (run in this process: no start-up cost)."""
    from typer.testing import CliRunner

    from multisc.cli import app

    done = CliRunner().invoke(app, [*name.split(), "--help"], terminal_width=200)
    assert done.exit_code == 0, f"{where}: multisc {name} --help failed: {done.output[-500:]}"
    return done.output


@pytest.mark.parametrize("page", PAGES)
def test_every_yaml_block_is_a_valid_run_config(page, tmp_path, monkeypatch):
    from multisc.experiment.config import load_config

    for block in (b for b in blocks(page) if b.lang == "yaml"):
        data = yaml.safe_load(block.code)
        if "img2img_sc" in block.code:  # the plugin's, as if it were installed
            _pretend_plugin_installed(monkeypatch)
        path = tmp_path / f"block-{block.line}.yaml"
        path.write_text(block.code)
        load_config(path)  # any error is the page's
        named = re.match(r"#\s*(configs/\S+\.yaml)", block.code)
        if named:  # a shipped config quoted: it must say what the file says
            shipped = yaml.safe_load((ROOT / named.group(1)).read_text())
            assert {k: shipped[k] for k in data} == data, f"{page}:{block.line}"


def _pretend_plugin_installed(monkeypatch):
    from multisc.schemes import catalog

    monkeypatch.syspath_prepend(str(ROOT / "examples" / "plugin-scheme" / "src"))
    from img2img_sc import SPEC

    monkeypatch.setattr(catalog, "_PLUGINS", {**(catalog._PLUGINS or {}), SPEC.name: SPEC})


def test_every_page_has_a_block_we_know_how_to_check():
    languages = {b.lang for page in PAGES for b in blocks(page)}
    assert languages <= {"bash", "python", "yaml", "toml", "text", ""}, languages


def test_the_tiny_changes_keep_what_the_command_gives_unless_forced():
    argv = ["multisc", "run", "--models", "mine", "--limit", "2"]
    assert tiny_arguments(argv)[:2] == (argv, ["--snr", "0"])  # what the command gives stays
    argv = ["multisc", "ber", "--link", "nr", "--blocks", "200"]
    assert tiny_arguments(argv)[:2] == ([*argv[:-1], "2"], [])  # forced: set in place
    assert tiny_arguments(["multisc", "models", "pull"])[1] == ["corrector"]
    assert tiny_arguments(["multisc", "--version"]) == (["multisc", "--version"], [], "")
    kept, optional = split_synopsis(shlex.split("multisc ber --snr 6 [--fec none|ldpc] [--json]"))
    assert kept == ["multisc", "ber", "--snr", "6"] and optional == ["--fec", "--json"]


# -- the slow runs ---------------------------------------------------------------------------


@pytest.mark.slow
def test_the_docs_site_builds_strict(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    assert (tmp_path / "site" / "api" / "schemes" / "index.html").is_file()
    # the API reference renders what the docstrings say: no Sphinx role or directive left
    # raw (mkdocstrings shows them literally), examples as code blocks, references as links
    # (also a field list the parser missed: ``:returns:`` or ``:param`` mid-paragraph)
    raw = re.compile(
        r":(class|meth|func|attr|mod|data|exc|obj):`|\.\. rubric::|rubric:: "
        r"|:returns?:|:param |:raises |:rtype:"
    )
    pages = list((tmp_path / "site" / "api").rglob("*.html"))
    found = [(p.name, m.group(0)) for p in pages for m in raw.finditer(p.read_text())]
    assert not found, found[:5]
    # an example is a block of its own, never inside a parameter's table cell (a docstring's
    # "Examples:" after its :param list is parsed as the last parameter's text)
    cells = re.compile(r"<td[^>]*>(.*?)</td>", re.S)
    inside = [
        p.name for p in pages for cell in cells.findall(p.read_text())
        if "&gt;&gt;&gt;" in cell or 'class="highlight"' in cell
    ]  # fmt: skip
    assert not inside, inside[:5]
    channel = (tmp_path / "site" / "api" / "channel" / "index.html").read_text()
    assert channel.count('<span class="gp">&gt;&gt;&gt; </span>') >= 5  # examples: code blocks
    assert 'href="#multisc.channel.nr_config.NRConfig"' in channel  # a link, not `:class:`


RUNNABLE = [p for p in PAGES if any(s for s in plan(p))]


@pytest.mark.slow
@pytest.mark.long
@pytest.mark.parametrize("page", RUNNABLE)
def test_every_command_and_snippet_of_the_page_runs(page, tmp_path, tiny_models, request):
    from multisc.data import sample_photos

    steps = plan(page)
    sample_photos()[0][1].resize((96, 96)).save(tmp_path / "photo.png")
    shutil.copytree(ROOT / "configs", tmp_path / "configs")  # run from the repository's folder
    _voc_layout(tmp_path / "data" / "VOCdevkit")
    (tmp_path / "steps.json").write_text(json.dumps(steps))
    (tmp_path / "driver.py").write_text(DRIVER)
    pulls = any(s.get("argv", [])[:2] == ["models", "pull"] for s in steps)
    environment = request.getfixturevalue("loopback_hub") if pulls else dict(os.environ)
    done = subprocess.run(
        [sys.executable, "driver.py", str(tiny_models)],
        cwd=tmp_path, capture_output=True, text=True, timeout=1500,
        env={**environment, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}", "COLUMNS": "200"},
    )  # fmt: skip
    assert done.returncode == 0 and "ALL STEPS PASSED" in done.stdout, (
        done.stdout[-6000:] + done.stderr[-3000:]
    )


def _voc_layout(root: Path) -> None:
    """Two bundled photos in the VOCdevkit layout ``voc2012:DIR`` reads."""
    from multisc.data import sample_photos

    images = root / "VOC2012" / "JPEGImages"
    images.mkdir(parents=True)
    split = root / "VOC2012" / "ImageSets" / "Segmentation"
    split.mkdir(parents=True)
    names = []
    for name, image in sample_photos()[:2]:
        image.convert("RGB").resize((96, 96)).save(images / f"{name}.jpg")
        names.append(name)
    (split / "val.txt").write_text("\n".join(names) + "\n")


@pytest.fixture(scope="module")
def loopback_hub(tmp_path_factory, tiny_models):
    """The environment of a machine whose Hub is a loopback one serving the recorded repo
    layouts (``multisc models pull`` works; nothing else is reachable)."""
    from tests.hub.layouts import build_hub
    from tests.hub.server import LocalHub
    from tests.test_hub_conformance import hub_env

    home = tmp_path_factory.mktemp("docs-home")
    with LocalHub(build_hub(tiny_models, home / "hub")) as hub:
        yield hub_env(hub, home)
