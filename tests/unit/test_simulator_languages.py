"""The simulator's GET /api/v2/routing/languages answers like Genesys: SDK model fields, a name
filter that is not exact, deleted languages listed, pages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.simulator import GenesysSimulator
from tests.unit.test_simulator import token, unknown_fields


@pytest.fixture
def sim() -> Iterator[GenesysSimulator]:
    with GenesysSimulator() as simulator:
        simulator.add_client("c", "s")
        yield simulator


def test_languages_are_listed_by_name_prefix_with_deleted_ones_and_in_pages(sim: GenesysSimulator):
    english = sim.add_language("English")
    sim.add_language("English (UK)")
    sim.add_language("english", state="deleted")
    sim.add_language("Spanish")
    headers = token(sim)

    def page(**params: object) -> dict:
        answer = requests.get(f"{sim.base_url}/api/v2/routing/languages", params=params, headers=headers, timeout=5)
        answer.raise_for_status()
        return answer.json()

    listing = page(name="Eng", pageSize=2, pageNumber=1)
    assert unknown_fields(listing, "LanguageEntityListing") == []
    assert (listing["total"], listing["pageCount"], len(listing["entities"])) == (3, 2, 2)
    names = [e["name"] for e in listing["entities"] + page(name="Eng", pageSize=2, pageNumber=2)["entities"]]
    assert sorted(names) == ["English", "English (UK)", "english"]
    assert {e["state"] for e in page(name="english")["entities"]} == {"active", "deleted"}
    assert [e["id"] for e in page(id=english)["entities"]] == [english]
