#!/usr/bin/env bash
# `make demo`: the whole story on the built-in simulator, no real API keys needed.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

rm -rf .demo && mkdir -p .demo
export COHERE_API_KEY=demo-cohere-key BFL_API_KEY=demo-bfl-key OPENAI_API_KEY=demo-openai-key
export TOGETHER_API_KEY=demo-together-key FIREWORKS_API_KEY=demo-fireworks-key
# Bedrock signs with the AWS chain: demo credentials, read from nowhere else, sent only to
# the simulator on 127.0.0.1.
export AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_PROFILE AWS_SESSION_TOKEN

ftjanitor simulate --port 8765 --seed scripts/demo-seed.yaml \
    --cohere-key "$COHERE_API_KEY" --bfl-key "$BFL_API_KEY" --key "openai=$OPENAI_API_KEY" \
    --log .demo/requests.jsonl \
    > .demo/simulator.out 2>&1 &
sim=$!
trap 'kill -TERM $sim 2>/dev/null; wait $sim 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q listening .demo/simulator.out 2>/dev/null && break; sleep 0.1; done
grep -q listening .demo/simulator.out || { cat .demo/simulator.out; exit 1; }

step ftjanitor validate jobs/
ftjanitor validate jobs/

step ftjanitor validate tests/invalid/28-many-errors.yaml "   # an invalid file: every error, exit 2"
ftjanitor validate tests/invalid/28-many-errors.yaml || echo "(exit code $?)"

step ftjanitor inventory jobs/simulator-demo.yaml
ftjanitor inventory jobs/simulator-demo.yaml

step ftjanitor plan jobs/simulator-demo.yaml "   # dry run: nothing mutating is sent"
ftjanitor plan jobs/simulator-demo.yaml

step ftjanitor run jobs/simulator-demo.yaml --yes
ftjanitor run jobs/simulator-demo.yaml --yes

step ftjanitor audit show .demo/audit.jsonl --job demo-cleanup
ftjanitor audit show .demo/audit.jsonl --job demo-cleanup

step ftjanitor audit verify .demo/audit.jsonl
ftjanitor audit verify .demo/audit.jsonl

step ftjanitor inventory jobs/simulator-hosting.yaml --kind deployment "   # what hosts what, and what it costs"
ftjanitor inventory jobs/simulator-hosting.yaml --kind deployment

step ftjanitor plan jobs/simulator-hosting.yaml "   # a committed PT is blocked; a served LoRA goes after its deployment"
ftjanitor plan jobs/simulator-hosting.yaml

step ftjanitor run jobs/simulator-hosting.yaml --yes
ftjanitor run jobs/simulator-hosting.yaml --yes

step ftjanitor audit show .demo/hosting-audit.jsonl --job hosting
ftjanitor audit show .demo/hosting-audit.jsonl --job hosting

mutations=$(grep -c '"mutating": true' .demo/requests.jsonl || true)
printf '\nthe simulator saw %s deleting requests, all from `run`; its request log is .demo/requests.jsonl\n' "$mutations"
