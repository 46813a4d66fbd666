"""The peer to beat: what a user writes without ftjanitor, with the official cohere SDK.

List every page, pick the same models the benchmark rule picks, delete them one by one.
Usage: python -m bench.sdk_loop BASE_URL PREFIX
"""

import os
import sys
from datetime import UTC, datetime, timedelta

import cohere

PAGE_SIZE = 1000  # the same page size ftjanitor asks for


def main() -> None:
    base_url, prefix = sys.argv[1], sys.argv[2]
    client = cohere.Client(api_key=os.environ["COHERE_API_KEY"], base_url=base_url, max_retries=0)
    now = datetime.now(UTC)
    selected: list[str] = []
    token: str | None = None
    while True:
        page = client.finetuning.list_finetuned_models(page_size=PAGE_SIZE, page_token=token)
        for model in page.finetuned_models or []:
            created = model.created_at
            if (
                model.id
                and model.name.startswith(prefix)
                and created
                and now - created > timedelta(days=30)
            ):
                selected.append(model.id)
        token = page.next_page_token
        if not token:
            break
    for model_id in selected:
        client.finetuning.delete_finetuned_model(model_id)
    print(len(selected))


if __name__ == "__main__":
    main()
