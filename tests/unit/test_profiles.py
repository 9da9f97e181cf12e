"""Environment profiles: shipped facts, overrides and error reporting."""

import pytest

from devsim.profiles import ProfileError, load_profile, profile_names


def test_shipped_profiles_load():
    assert profile_names() == ["development", "experimental", "production"]
    for name in profile_names():
        assert load_profile(name).name == name


def test_production_document_facts():
    prod = load_profile("production")
    assert prod.app.port == 8080
    assert prod.scaling.mode == "horizontal"
    assert prod.database.topology == "primary-replica"
    assert prod.database.backup.schedule == "daily"
    assert prod.database.backup.automated
    assert prod.monitoring.tools == ["prometheus", "grafana"]
    assert prod.monitoring.alert_channel == "email"
    assert prod.security.tls
    assert prod.security.secrets == "aws-secrets-manager"
    assert not prod.security.debug_endpoints
    assert prod.deployment.strategy == "rolling"


def test_development_document_facts():
    dev = load_profile("development")
    assert dev.app.port == 3000
    assert dev.app.debugger_port == 9229
    assert dev.app.hot_reload
    assert dev.scaling.mode == "manual"
    assert dev.scaling.replicas == 1
    assert dev.database.topology == "single"
    assert dev.database.backup.schedule == "manual"
    assert dev.database.seed_test_data
    assert dev.monitoring.alert_channel == "console"
    assert dev.security.cors_allowed_origins == ["*"]
    assert dev.security.debug_endpoints
    assert not dev.security.tls
    assert dev.orchestration == "docker-compose"


def test_experimental_document_facts():
    exp = load_profile("experimental")
    assert (exp.app.port, exp.app.metrics_port, exp.app.ai_api_port) == (9000, 9001, 9002)
    assert exp.scaling.mode == "predictive"
    assert exp.database.topology == "multi-master"
    assert exp.database.nodes == 5
    assert exp.database.backup.geo_redundant
    assert exp.clouds == ["aws", "azure", "gcp", "digitalocean"]


def test_overrides_double_underscore_and_dict():
    prof = load_profile("production", scaling__max_replicas=7, instances={"workers": 8})
    assert prof.scaling.max_replicas == 7
    assert prof.instances.workers == 8
    assert prof.instances.queue_capacity == 100


def test_unknown_name_lists_choices():
    with pytest.raises(ProfileError) as info:
        load_profile("prod")
    assert "production" in str(info.value)
    assert "development" in str(info.value)


def test_all_problems_reported_at_once():
    with pytest.raises(ProfileError) as info:
        load_profile("production", instances__workers="many", scaling__target_utilization=1.5, bogus_field=1)
    paths = [path for path, _, _ in info.value.problems]
    assert "instances.workers" in paths
    assert "scaling.target_utilization" in paths
    assert "bogus_field" in paths
    assert "'many'" in str(info.value)


def test_negative_replicas_rejected():
    with pytest.raises(ProfileError) as info:
        load_profile("production", scaling__replicas=-2)
    assert "scaling.replicas" in str(info.value)
    assert "-2" in str(info.value)


def test_min_above_max_rejected():
    with pytest.raises(ProfileError) as info:
        load_profile("production", scaling__min_replicas=10, scaling__max_replicas=5)
    assert "min_replicas (10) is above max_replicas (5)" in str(info.value)


def test_missing_field_reported(tmp_path):
    text = (load_profile.__globals__["resources"].files("devsim.data.profiles") / "production.yaml").read_text()
    broken = tmp_path / "broken.yaml"
    broken.write_text(text.replace("  port: 8080", "  portt: 8080"))
    with pytest.raises(ProfileError) as info:
        load_profile(broken)
    message = str(info.value)
    assert "app.port: Field required" in message
    assert "app.portt" in message


def test_yaml_path_loads(tmp_path):
    text = (load_profile.__globals__["resources"].files("devsim.data.profiles") / "development.yaml").read_text()
    path = tmp_path / "mine.yaml"
    path.write_text(text.replace("name: development", "name: mine"))
    assert load_profile(path).name == "mine"


def test_missing_file_is_clear(tmp_path):
    with pytest.raises(ProfileError, match="file not found"):
        load_profile(tmp_path / "absent.yaml")
