"""Credit of one interleaved impression to one team, from the feedback alone.

A Seldon executor sends a combiner's feedback to every child (SeldonIO/seldon-core#3139), so
each model component credits its own team: the served response's ``meta.tags.teams`` (one team
per item of ``jsonData.items``) and the feedback's ``truth`` (the clicked items, as
``{"jsonData": {"clicked": [movieId, ...]}}`` or ``{"data": {"ndarray": [[movieId]]}}``) say how
many clicks each team earned. The component's ledger (:meth:`FeedbackLedger.credit_team`) makes that
count once per impression and team whatever retries and broadcasts arrive.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf import json_format
from seldon_core.flask_utils import SeldonMicroserviceException
from seldon_core.proto import prediction_pb2

from funflix.serving.team_draft import outcome


@dataclass(frozen=True)
class TeamCredit:
    """What one feedback earned ``team``: its clicks, the other team's, and the impression's outcome for it."""

    team: str
    clicks: int
    other_clicks: int

    @property
    def outcome(self) -> str:
        return outcome(self.other_clicks, self.clicks)


def is_interleaved(meta: prediction_pb2.Meta) -> bool:
    """True when the served response is a team-draft list (its tags name a team per item)."""
    return "teams" in meta.tags


def clicked_items(truth: dict | None) -> list[int]:
    """The clicked movieIds in a feedback's ``truth`` (an empty list when there is none)."""
    if not truth:
        return []
    if "jsonData" in truth:
        values = truth["jsonData"].get("clicked") if isinstance(truth["jsonData"], dict) else None
    else:
        values = [v for row in (truth.get("data") or {}).get("ndarray") or [] for v in (row if isinstance(row, list) else [row])]
    if not isinstance(values, list) or not all(isinstance(v, (int, float)) and float(v).is_integer() for v in values):
        raise SeldonMicroserviceException('truth must list the clicked items: {"jsonData": {"clicked": [movieId]}}')
    return sorted({int(v) for v in values})


def team_credit(feedback: prediction_pb2.Feedback, team: str) -> TeamCredit:
    """Validate an interleaved feedback and count ``team``'s clicks (SeldonMicroserviceException on bad input)."""
    document = json_format.MessageToDict(feedback)
    response = document.get("response", {})
    items = (response.get("jsonData") or {}).get("items")
    teams = response.get("meta", {}).get("tags", {}).get("teams")
    if not isinstance(items, list) or not isinstance(teams, list) or len(items) != len(teams):
        raise SeldonMicroserviceException("an interleaved response needs jsonData.items and meta.tags.teams "
                                          "of the same length (one team per item)")
    if not all(isinstance(name, str) for name in teams):
        raise SeldonMicroserviceException("meta.tags.teams must name the team (arm) of each item")
    if not all(isinstance(i, (int, float)) and not isinstance(i, bool) and float(i).is_integer() for i in items):
        raise SeldonMicroserviceException("jsonData.items of an interleaved response must be movieIds")
    clicked = clicked_items(document.get("truth"))
    team_of = {int(item): name for item, name in zip(items, teams)}
    unknown = [item for item in clicked if item not in team_of]
    if unknown:
        raise SeldonMicroserviceException(f"clicked item(s) {unknown} are not in the served list")
    if feedback.reward and not clicked:
        raise SeldonMicroserviceException('reward 1 on an interleaved list needs the clicked item in truth: '
                                          '{"jsonData": {"clicked": [movieId]}}')
    if not feedback.reward and clicked:
        raise SeldonMicroserviceException("reward 0 (not clicked) cannot name clicked items in truth")
    mine = sum(team_of[item] == team for item in clicked)
    return TeamCredit(team, mine, len(clicked) - mine)
