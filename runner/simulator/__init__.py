"""A local fake of every HTTP provider's fine-tune API, for the demo, tests and benchmarks.

Real HTTP on 127.0.0.1, every provider on one port: each under ``/<type>/`` (see
``Simulator.base_url``), Cohere and BFL also at the root. Auth checked, every request
logged, faults injected on demand. ``core`` holds the server; one module per wire format.
"""

from runner.discovery import plugins
from runner.simulator.cohere import cohere_model
from runner.simulator.core import (
    FAULT_KINDS,
    REGISTRY,
    Accounts,
    Fault,
    Logged,
    Simulator,
    generate,
    load_seed,
)
from runner.simulator.fireworks import fireworks_model
from runner.simulator.mistral import mistral_base_card, mistral_ft_card
from runner.simulator.openai import openai_job, openai_model
from runner.simulator.together import together_job

# Importing a wire module registers it with the core: every module here but the core is one.
WIRES = tuple(plugins(__name__, __path__, ("core",)))

__all__ = [
    "FAULT_KINDS",
    "REGISTRY",
    "Accounts",
    "Fault",
    "Logged",
    "Simulator",
    "cohere_model",
    "fireworks_model",
    "generate",
    "load_seed",
    "mistral_base_card",
    "mistral_ft_card",
    "openai_job",
    "openai_model",
    "together_job",
]
