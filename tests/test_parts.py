"""What every registered part must do, built-in or from a plugin: parametrised from the
role registries (``schemes.roles``), run on the tiny stand-ins through the loaders users
take; and the options that name them."""

import json
import shutil

import numpy as np
import pytest

from multisc.errors import InvalidInputError
from multisc.models import REGISTRY
from multisc.schemes.roles import ROLES, part_needs
from multisc.transmitter.captioners import make_captioner
from multisc.transmitter.segmenters import make_segmenter

#: the roles a part's components may have, per part role (a generator brings its LoRA)
COMPONENT_ROLES = {
    "segmenter": {"segmenter"},
    "captioner": {"captioner"},
    "generator": {"generator", "lora"},
    "ip_adapter": {"ip_adapter"},
}


def entries(role: str) -> list[str]:
    return list(ROLES[role].names())


@pytest.mark.parametrize(("role", "name"), [(r, n) for r in ROLES for n in entries(r)])
def test_every_entry_loads_registered_components_of_its_role(role, name):
    needs = part_needs(role, name)
    assert needs and all(n in REGISTRY for n in needs)
    assert {REGISTRY[n].role for n in needs} <= COMPONENT_ROLES[role]
    spec = ROLES[role].get(name)
    assert spec.summary and json.dumps(spec.info)  # plain JSON facts


@pytest.fixture(scope="module")
def blocks(photo):
    return [photo, photo.crop((0, 0, 80, 60)), photo.rotate(90, expand=True)]


@pytest.mark.parametrize("name", entries("segmenter"))
def test_each_segmenter_finds_a_main_object_per_image_batched_as_one_by_one(
    name, tiny_models, blocks
):
    segmenter = make_segmenter(name, tiny_models, "cpu", resize=64)
    found = segmenter.segment(blocks)
    assert len(found) == 3
    for image, segmentation in zip(blocks, found, strict=True):
        assert segmentation.mask.shape == (image.height, image.width)
        left, top, right, bottom = segmentation.box
        assert 0 <= left < right <= image.width and 0 <= top < bottom <= image.height
    fresh = make_segmenter(name, tiny_models, "cpu", resize=64)
    for image in blocks:
        assert np.array_equal(fresh.class_map(image), segmenter.class_map(image))


@pytest.mark.parametrize("name", entries("captioner"))
def test_each_captioner_writes_one_caption_per_image_batched_as_one_by_one(
    name, tiny_models, blocks
):
    batched = make_captioner(name, tiny_models, "cpu", max_new_tokens=5, batch_size=3)
    captions = batched.caption(blocks)
    assert len(captions) == 3 and all(isinstance(c, str) for c in captions)
    single = make_captioner(name, tiny_models, "cpu", max_new_tokens=5, batch_size=1)
    assert single.caption(blocks) == captions
    tokenizer = getattr(batched.processor, "tokenizer", batched.processor)
    assert tokenizer("a dog")["input_ids"]  # caption lengths are counted in its tokens
    assert sum(p.numel() for p in batched.model.parameters()) > 0


def test_an_unknown_entry_is_refused_at_load_naming_the_closest():
    from multisc.schemes.options import SchemeOptions

    with pytest.raises(InvalidInputError, match=r"did you mean 'llava-1\.5-7b'"):
        SchemeOptions(captioner="llava-1.5-7")
    with pytest.raises(InvalidInputError, match=r"did you mean 'deeplabv3_resnet50'"):
        SchemeOptions(segmenter="deeplab_resnet50")
    with pytest.raises(InvalidInputError, match="option ip_adapter: 'pluss'"):
        SchemeOptions(ip_adapter="pluss")
    with pytest.raises(InvalidInputError, match=r"option generator: 'sdxl' is not one of sd15"):
        SchemeOptions(schemes={"multisc": {"generator": "sdxl"}})


def test_a_few_step_generator_refuses_steps_outside_its_range():
    from multisc.schemes.options import SchemeOptions

    assert SchemeOptions(generator="sd15-lcm", steps=8).steps == 8
    with pytest.raises(InvalidInputError, match="2-8 steps"):
        SchemeOptions(generator="sd15-lcm", steps=30)
    assert SchemeOptions(generator="sd15", steps=30).steps == 30


def test_the_schemes_need_the_components_of_the_parts_they_are_given():
    from multisc.schemes.catalog import get_spec
    from multisc.schemes.options import SchemeOptions

    multisc = get_spec("multisc")
    assert multisc.needed_components(SchemeOptions()) == (
        "segmenter", "captioner", "generator", "ip_adapter", "corrector",
    )  # fmt: skip
    chosen = SchemeOptions(
        captioner="llava-1.5-7b", segmenter="lraspp_mobilenet_v3_large",
        generator="sd15-lcm", ip_adapter="plus", corrector="symspell",
    )  # fmt: skip
    assert multisc.needed_components(chosen) == (
        "lraspp_mobilenet_v3_large", "llava-1.5-7b", "generator", "lcm_lora_sd15",
        "ip_adapter_plus",
    )  # fmt: skip
    vlm = get_spec("vlm_csc").needed_components(SchemeOptions(vlm_captioner="smolvlm-256m"))
    assert vlm == ("smolvlm-256m", "generator")


def test_schemes_list_and_models_list_show_every_choice_per_role(capsys):
    from multisc.cli import main

    assert main(["schemes", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    for role in ROLES:
        assert [e["name"] for e in listed[f"{role}s"]] == entries(role)
    multisc = next(s for s in listed["schemes"] if s["name"] == "multisc")
    assert {"segmenter", "captioner", "generator", "ip_adapter"} <= set(multisc["options"])
    assert multisc["options"]["captioner"]["default"] == "llava-interleave-qwen-0.5b"
    assert main(["models", "list", "--json"]) == 0
    models = json.loads(capsys.readouterr().out)
    for role in ROLES:
        assert [e["name"] for e in models["roles"][role]] == entries(role)
    rows = {row["name"]: row for row in models["components"]}
    assert rows["llava-1.5-7b"]["role"] == "captioner"
    assert 14.0e9 < rows["llava-1.5-7b"]["download_bytes"] < 14.3e9  # said before a pull


def test_a_variant_whose_part_is_missing_is_skipped_alone(tiny_models, tmp_path):
    """``vary: {captioner: [paper's, llava-1.5-7b]}`` with a models folder lacking the 7B:
    that variant is skipped with one line saying what to pull; the other runs."""
    from multisc.experiment.config import RunConfig
    from multisc.experiment.planning import plan_run

    models = tmp_path / "models"
    models.mkdir()
    for item in tiny_models.iterdir():
        if item.name != "llava-1.5-7b":
            (models / item.name).symlink_to(item, target_is_directory=True)
    config = RunConfig(
        images="samples", schemes=["multisc"], snr_db=[0.0], models=str(models), device="cpu",
        vary={"captioner": ["llava-interleave-qwen-0.5b", "llava-1.5-7b"]},
    )  # fmt: skip
    lines: list[str] = []
    plan = plan_run(config, lines.append)
    assert [v.label for v in plan.variants] == ["multisc captioner=llava-interleave-qwen-0.5b"]
    (line,) = [text for text in lines if "skipping" in text]
    assert "multisc captioner=llava-1.5-7b" in line and "models pull llava-1.5-7b" in line
    assert plan.schemes == ("multisc",)
    shutil.rmtree(models)


def test_transmit_takes_the_parts_as_flags_and_names_them(tiny_models, tmp_path, capsys, photo):
    from multisc.cli import main

    image = tmp_path / "photo.png"
    photo.save(image)
    args = ["transmit", str(image), "--scheme", "multisc", "--snr", "6", "--models",
            str(tiny_models), "--size", "32", "--json"]  # fmt: skip
    chosen = ["--captioner", "blip", "--ip-adapter", "plus", "--generator", "sd15-lcm",
              "--segmenter", "lraspp_mobilenet_v3_large", "--steps", "2"]  # fmt: skip
    assert main([*args, *chosen]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["parts"] == {
        "segmenter": "lraspp_mobilenet_v3_large", "captioner": "blip",
        "generator": "sd15-lcm", "ip_adapter": "plus",
    }  # fmt: skip
    assert len(payload["texts_sent"]) == 4
    assert main([*args, "--captioner", "blib"]) == 2
    assert "did you mean 'blip'" in capsys.readouterr().err
    assert main([*args, "--generator", "sd15-lcm", "--steps", "30"]) == 2
    assert "2-8 steps" in capsys.readouterr().err
