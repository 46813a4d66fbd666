"""azure_openai's contract is kept by tests/test_azure_openai*.py."""

ELSEWHERE = (
    "its endpoint and ARM scope are connection fields of their own (no base_url), and a model"
    " delete falls back to its fine-tuning job: tests/test_azure_openai_cli.py"
)
