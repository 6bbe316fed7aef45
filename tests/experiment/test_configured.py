import pytest
import yaml

from funflix import paths
from funflix.experiment.configured import ExperimentConfigError, analysis_config


def test_the_charts_values_give_the_split_and_unit():
    config = analysis_config()
    assert config.expected_split == {"control": 0.5, "challenger": 0.5}
    assert config.randomisation_unit == "user" and not config.adaptive_routing


@pytest.mark.parametrize("routing, unit, adaptive", [("sticky", "user", False), ("random", "impression", False),
                                                     ("thompson", "user", True)])
def test_routing_decides_the_randomisation_unit(tmp_path, routing, unit, adaptive):
    values = yaml.safe_load((paths.REPO_ROOT / "charts" / "funflix" / "values.yaml").read_text())
    values["experiment"]["routing"] = routing
    values["experiment"]["arms"][0]["split"], values["experiment"]["arms"][1]["split"] = 0.8, 0.2
    (tmp_path / "values.yaml").write_text(yaml.safe_dump(values))
    config = analysis_config(path=tmp_path / "values.yaml", control="control", alpha=0.01)
    assert (config.randomisation_unit, config.adaptive_routing) == (unit, adaptive)
    assert config.expected_split == {"control": 0.8, "challenger": 0.2} and config.alpha == 0.01
    assert analysis_config(split={"control": 1, "challenger": 1}, path=tmp_path / "values.yaml").expected_split == {
        "control": 1, "challenger": 1}


def test_a_missing_or_broken_config_is_an_error_not_an_equal_split(tmp_path):
    with pytest.raises(ExperimentConfigError, match="no experiment configuration at .*missing.yaml"):
        analysis_config(path=tmp_path / "missing.yaml")
    (tmp_path / "broken.yaml").write_text("experiment: {name: x, salt: y, routing: sideways, arms: []}\n")
    with pytest.raises(ExperimentConfigError, match="unusable: .*routing must be one of"):
        analysis_config(path=tmp_path / "broken.yaml")
