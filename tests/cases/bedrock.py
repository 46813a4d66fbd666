"""bedrock's contract is kept by a file of its own."""

ELSEWHERE = "AWS SDK against moto's server, not the simulator: tests/test_bedrock.py"
