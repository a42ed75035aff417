"""Demo: create an organization and a dataset on the CKAN at $CKAN_URL, then find it by search."""

from __future__ import annotations

import os
import uuid

from ckan_api_client import CkanLowlevelClient


def main() -> None:
    client = CkanLowlevelClient(os.environ["CKAN_URL"], os.environ["CKAN_API_TOKEN"])
    print(f"connected to {client.base_url}: CKAN {client.capabilities.ckan_version}, "
          f"extensions {sorted(client.capabilities.extensions)}")
    suffix = uuid.uuid4().hex[:8]
    org = client.post_organization({"name": f"demo-org-{suffix}", "title": "Demo organization"})
    print(f"created organization {org['name']} ({org['id']})")
    dataset = client.post_dataset({
        "name": f"demo-dataset-{suffix}",
        "title": "Air quality of Taipei, hourly",
        "owner_org": org["id"],
        "tags": ["air-quality", "taipei"],          # seed-era shapes are accepted and converted
        "extras": {"source": "ckan-api-client demo"},
        "resources": [{"name": "readings", "url": "https://example.org/readings.csv", "format": "CSV"}],
    })
    print(f"created dataset {dataset['name']} with {len(dataset['resources'])} resource(s)")
    found = client.call_action("package_search", {"q": "taipei air quality", "fq": f"owner_org:{org['id']}"})
    print(f"package_search found {found['count']} dataset(s): {[d['name'] for d in found['results']]}")
    assert dataset["id"] in [d["id"] for d in found["results"]], "the new dataset was not found by search"
    print(f"organization {org['name']} now counts {client.get_organization(org['id'])['package_count']} dataset(s)")
    print(f"all dataset ids on the site: {len(client.list_datasets())}")


if __name__ == "__main__":
    main()
