"""``campaign.yaml``: the example ``init`` writes loads with the paper's rules, and every broken key is
refused with one line naming the file and the key."""

from __future__ import annotations

import pytest

from valor_data.annotate.campaign import CampaignError, load_config, write_example

EXAMPLE_LINES = {
    "reviewers: 3": ("reviewers: three", "stages.second.reviewers: expected a whole number >= 1, got 'three'"),
    "reject_when_more_than: 1": ("reject_when_more_than: 3", "stages.second.reject_when_more_than: expected a whole "
                                                             "number below reviewers \\(3\\)"),
    "reviewer_roles: [host]": ("reviewer_roles: [boss]", "stages.training.reviewer_roles: expected a list of "
                                                         "annotator, reviewer, host"),
    "max_rounds: 3 ": ("max_rounds: 0 ", "max_rounds: expected a whole number >= 1, got 0"),
    "lease_minutes: 20 ": ("lease_minutes: soon ", "lease_minutes: expected a number > 0"),
    "drafts: false": ("drafts: maybe", "drafts: expected true or false"),
    "guidelines: guidelines.md": ("guidelines: missing.md", "guidelines: file .*missing.md not found"),
    "min_words: 8": ("min_word: 8", "unknown key 'min_word'"),
    "    rework: author   #": ("    rework: anyone   #", "stages.second.rework: expected author or other"),
}


def test_the_example_campaign_loads_with_the_papers_rules(tmp_path):
    files = write_example(tmp_path / "c")
    assert [f.name for f in files] == ["campaign.yaml", "guidelines.md"]
    config = load_config(tmp_path / "c")
    second = config.stages["second"]
    assert (second.reviewers, second.reject_when_more_than, second.rework) == (3, 1, "author")
    assert config.stages["training"].reviewer_roles == ("host",)
    assert config.stages["first"].reviewer_roles == ("host", "reviewer")
    assert (config.max_rounds, config.min_words, config.max_chars, config.lease_seconds) == (3, 8, 1000, 1200.0)
    assert "no-sound" in config.rejection_reasons and len(config.examples) == 2
    assert config.examples[0].clip_id == "7G0CFAGswrw_240.000_250.000" and "xylophone" in config.examples[0].caption
    assert "AudioSet labels" in config.guidelines()
    with pytest.raises(CampaignError, match="already exists"):
        write_example(tmp_path / "c")


@pytest.mark.parametrize("line", list(EXAMPLE_LINES))
def test_each_broken_key_is_named(tmp_path, line):
    write_example(tmp_path)
    path = tmp_path / "campaign.yaml"
    text = path.read_text()
    assert line in text
    broken, message = EXAMPLE_LINES[line]
    path.write_text(text.replace(line, broken, 1))
    with pytest.raises(CampaignError, match=f"campaign.yaml: {message}"):
        load_config(tmp_path)


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(CampaignError, match="campaign.yaml: not found \\(make one with `valor-data annotate init"):
        load_config(tmp_path)
    (tmp_path / "campaign.yaml").write_text("name: [unclosed")
    with pytest.raises(CampaignError, match="not valid YAML"):
        load_config(tmp_path)
    (tmp_path / "campaign.yaml").write_text("- a list\n")
    with pytest.raises(CampaignError, match="top level: expected a mapping, got list"):
        load_config(tmp_path)
    (tmp_path / "campaign.yaml").write_text("name: x\nrejection_reasons: [a]\nstages: {training: {reviewers: 1, reviewer_roles: [host]}}\n")
    with pytest.raises(CampaignError, match="stages.first: missing"):
        load_config(tmp_path)
