"""/experiment for the interleaving design: the preference analysis of the stored interleaved rows."""

import pytest

from funflix.website import store


@pytest.fixture
def interleaved_app(make_app, interleaving_values):
    return make_app(EXPERIMENT_VALUES=str(interleaving_values))


def test_the_page_shows_wins_losses_and_the_preference(interleaved_app):
    site = interleaved_app.extensions["funflix"]
    with site.engine.connect() as conn:
        for user, clicked in ((1, 20), (2, 20), (3, 10), (4, None)):
            impression_id = f"{user:032d}"
            store.record_impression(conn, impression_id=impression_id, user_id=user, items=[10, 20, 30],
                                    arm="interleaver", teams=["control", "challenger", "control"],
                                    response={"meta": {"puid": impression_id}}, experiment_id=site.experiment_id)
            if clicked:
                store.record_click(conn, impression_id, user, clicked)
    page = interleaved_app.test_client().get("/experiment").get_data(as_text=True)
    assert "Interleaving experiment" in page
    assert 'data-testid="interleaving-outcomes" data-impressions="4" data-wins="2" data-losses="1"' in page
    assert 'data-testid="preference" data-share="0.666' in page and "<svg" in page
    assert 'data-testid="verdict" data-decision="keep running"' in page and "[0.0%, 100.0%] holds 50%" in page


def test_the_page_without_interleaved_rows(interleaved_app):
    page = interleaved_app.test_client().get("/experiment").get_data(as_text=True)
    assert "Interleaving experiment" in page and 'data-testid="no-data"' in page


def test_the_ab_design_keeps_the_ab_page(client):
    assert "A/B experiment" in client.get("/experiment").get_data(as_text=True)


def test_an_interleaved_run_of_the_same_arms_is_another_experiment(make_app, interleaving_values):
    ab = make_app().extensions["funflix"].experiment_id
    interleaved = make_app(EXPERIMENT_VALUES=str(interleaving_values)).extensions["funflix"].experiment_id
    assert ab is not None and interleaved is not None and ab != interleaved
