"""The local gateway's graph for the interleaving design: a COMBINER root over the two arms.

Semantics kept from the Seldon executor for a combiner root:

- predictions: every child gets the request (concurrently), then the combiner's ``/aggregate``
  gets their responses as ``{"seldonMessages": [...]}`` and its answer is served, with the
  ``puid`` and ``meta.routing = {"interleaver": -1}`` (a combiner routes to all children).
- feedback: every child gets the feedback (each credits its own team, once per ``puid``), then
  ``/aggregate`` gets their replies (SeldonIO/seldon-core#3139); its summary is the answer.
"""

from __future__ import annotations

import asyncio
import json
import uuid

from funflix.serving.experiment_config import COMBINER_NODE
from funflix.serving.gateway import Gateway, RequestRefused, _json, served_meta


class CombinerGateway(Gateway):
    """Seldon's combiner semantics: ``router`` is the graph root here, the interleaving combiner."""

    async def predict(self, message: dict) -> tuple[dict, str]:
        meta = message.get("meta") or {}
        puid = meta.get("puid") or uuid.uuid4().hex
        message["meta"] = {**meta, "puid": puid}
        body = json.dumps(message).encode()
        answers = await asyncio.gather(*(self.call(child, "POST", "/predict", body) for child in self.children))
        responses = [_json(answer, child.name) for answer, child in zip(answers, self.children)]
        merged = await self.aggregate(responses)
        merged_meta = merged.setdefault("meta", {})
        merged_meta["puid"] = puid
        merged_meta["routing"] = {COMBINER_NODE: -1}
        return merged, self.router.name

    async def feedback(self, message: dict, body: bytes) -> tuple[dict, str]:
        _check_interleaved_feedback(message)
        answers = await asyncio.gather(*(self.call(child, "POST", "/api/v1.0/feedback", body)
                                         for child in self.children))
        replies = [_json(answer, child.name) for answer, child in zip(answers, self.children)]
        return await self.aggregate(replies), self.router.name

    async def aggregate(self, messages: list[dict]) -> dict:
        body = json.dumps({"seldonMessages": messages}).encode()
        return _json(await self.call(self.router, "POST", "/aggregate", body), self.router.name)


def _check_interleaved_feedback(message: dict) -> None:
    """The gateway's own checks of an interleaved feedback (the arms check the credit itself)."""
    meta = served_meta(message, "puid, tags.teams")
    response = message["response"]
    tags = meta.get("tags")
    items = (response.get("jsonData") or {}).get("items") if isinstance(response.get("jsonData"), dict) else None
    if not isinstance(tags, dict) or not isinstance(tags.get("teams"), list) or not isinstance(items, list) \
            or len(items) != len(tags["teams"]):
        raise RequestRefused(400, "this experiment interleaves: the served response needs jsonData.items and "
                                "meta.tags.teams (one team per item)")
    truth = message.get("truth")
    if truth is not None and not isinstance(truth, dict):
        raise RequestRefused(400, 'truth must be an object like {"jsonData": {"clicked": [movieId]}}')
