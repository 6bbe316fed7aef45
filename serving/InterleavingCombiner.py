"""Seldon COMBINER component: team-draft interleaving of its two model children's lists.

Start with ``seldon-core-microservice funflix.serving.InterleavingCombiner.InterleavingCombiner
--service-type COMBINER --parameters '[{"name": "arms", "value": "control,challenger", "type": "STRING"}]'``.

The executor calls every child of a combiner with the request, then ``aggregate`` with their
responses. Each served list carries its teams in ``meta.tags``: ``teams`` (the team of each item,
aligned with ``jsonData.items``), ``design: interleaving``, ``arm`` (this node's name: the list
belongs to no single arm). The coin of every round is seeded from the request's ``puid``.

On feedback a Seldon v1 executor may also call ``aggregate``, with the children's feedback
replies (SeldonIO/seldon-core#3139): those are summarised, never merged as lists. The credit
itself is done by each child from the served tags and the feedback's ``truth``
(:mod:`funflix.serving.interleaving_credit`).
"""

from __future__ import annotations

import logging
import time

import numpy as np
from google.protobuf import json_format
from seldon_core.flask_utils import SeldonMicroserviceException
from seldon_core.proto import prediction_pb2
from seldon_core.utils import json_to_seldon_message

from funflix.serving import metric_names
from funflix.serving.component_errors import error_blueprint
from funflix.serving.experiment_config import COMBINER_NODE, NODE_NAME
from funflix.serving.seldon_metrics_lock import serialise_updates
from funflix.serving.team_draft import interleave, puid_generator

log = logging.getLogger(__name__)

DESIGN = "interleaving"
METHOD = "team-draft"


class InterleavingCombiner:
    """Merge the children's ranked lists by team draft.

    Parameters (graph ``parameters``, STRING)
    ----------
    arms : comma-separated team names in child order (exactly two: control first, then the challenger).
    name : this node's graph name (tags ``arm`` of every merged list).
    """

    def __init__(self, arms: str = "control,challenger", name: str = COMBINER_NODE):
        teams = [a.strip() for a in str(arms).split(",")]
        if len(teams) != 2 or len(set(teams)) != 2 or not all(NODE_NAME.match(t) for t in teams):
            raise ValueError(f"arms must name two different children like 'control,challenger', got {arms!r}")
        if not NODE_NAME.match(str(name)) or name in teams:
            raise ValueError(f"name must be a graph node name other than the arms, got {name!r}")
        self.teams = teams
        self.name = str(name)
        self._unseeded_warned = False
        self.model_error_handler = error_blueprint()
        serialise_updates()  # merged lists and merge latency go through Seldon's metrics: lose none
        log.info("interleaving combiner %s: team draft of %s", self.name, " and ".join(teams))

    def aggregate_raw(self, request):
        """Merge the children's responses (or summarise their feedback replies)."""
        is_proto = isinstance(request, prediction_pb2.SeldonMessageList)
        document = json_format.MessageToDict(request) if is_proto else request
        messages = document.get("seldonMessages") if isinstance(document, dict) else document
        if not isinstance(messages, list) or len(messages) != len(self.teams):
            raise SeldonMicroserviceException(
                f"aggregate needs seldonMessages from the {len(self.teams)} children {self.teams}", status_code=400)
        if not all(isinstance(m, dict) and isinstance(m.get("jsonData"), dict) for m in messages):
            raise SeldonMicroserviceException("every child message needs a jsonData object", status_code=400)
        if all("outcome" in m["jsonData"] for m in messages):
            answer = self._feedback_summary(messages)
        else:
            answer = self._merge(messages)
        return json_to_seldon_message(answer) if is_proto else answer

    def _merge(self, messages: list[dict]) -> dict:
        started = time.perf_counter()
        lists = []
        for team, message in zip(self.teams, messages):
            data = dict(message["jsonData"])
            items, scores = data.get("items"), data.get("scores")
            if (not isinstance(items, list) or not isinstance(scores, list) or len(items) != len(scores)
                    or not all(isinstance(i, (int, float)) and not isinstance(i, bool) and float(i).is_integer()
                               for i in items)):
                raise SeldonMicroserviceException(f"child {team!r} answered no ranked list (items, scores)",
                                                  status_code=400)
            data["items"] = [int(i) for i in items]  # the protobuf form carries numbers as floats
            lists.append(data)
        puid = next((m.get("meta", {}).get("puid") for m in messages if m.get("meta", {}).get("puid")), None)
        ranking = interleave(lists[0]["items"], lists[1]["items"], self._generator(puid))
        score_of = [dict(zip(d["items"], d["scores"])) for d in lists]
        scores = [float(score_of[team][item]) for item, team in zip(ranking.items, ranking.teams)]
        versions = [str((d.get("model") or {}).get("version", "")) for d in lists]
        version = "+".join(f"{team}@{v}" for team, v in zip(self.teams, versions))
        team_names = [self.teams[t] for t in ranking.teams]
        meta = {"tags": {"arm": self.name, "design": DESIGN, "method": METHOD, "teams": team_names,
                         "model_name": METHOD, "model_version": version},
                "metrics": [{"type": "COUNTER", "key": metric_names.INTERLEAVED_LISTS, "value": 1,
                             "tags": {"arm": self.name}},
                            {"type": "TIMER", "key": metric_names.INTERLEAVE_LATENCY,
                             "value": (time.perf_counter() - started) * 1000, "tags": {"arm": self.name}}]}
        if puid:
            meta["puid"] = puid
        return {"jsonData": {
            "user_id": lists[0].get("user_id"),
            "recommendations": {str(item): score for item, score in zip(ranking.items, scores)},
            "items": ranking.items, "scores": scores, "teams": team_names,
            "model": {"name": METHOD, "version": version},
            "strategy": lists[0].get("strategy") if lists[0].get("strategy") == lists[1].get("strategy") else "mixed",
        }, "meta": meta}

    def _generator(self, puid: str | None) -> np.random.Generator:
        if puid:
            return puid_generator(puid)
        if not self._unseeded_warned:
            self._unseeded_warned = True
            log.warning("children's responses carry no meta.puid: coins drawn from fresh entropy")
        return np.random.default_rng()

    def _feedback_summary(self, messages: list[dict]) -> dict:
        """What each child did with a feedback (the executor's aggregate on feedback, #3139)."""
        replies = [m["jsonData"] for m in messages]
        return {"jsonData": {"feedback": replies, "credited": any(r.get("credited") for r in replies)},
                "meta": {"tags": {"arm": self.name, "design": DESIGN}}}

    def tags(self) -> dict:
        return {"arm": self.name, "design": DESIGN}

    def health_status(self) -> dict:
        return {"combiner": self.name, "design": DESIGN, "method": METHOD, "teams": self.teams}

    def init_metadata(self) -> dict:
        return {"name": self.name, "versions": [METHOD], "platform": "funflix", "custom": {"teams": self.teams}}
