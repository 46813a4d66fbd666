from runner.cli import console

console()
