"""Every ``neuroclip ...`` command in the README's shell blocks parses as written: its command exists, every option
exists and every value converts. A documented command can never silently break again."""

import re
import shlex

import pytest
import typer.main

from neuroclip.cli import app, normalise_list_arguments

from conftest import REPO_ROOT


def readme_commands() -> list[str]:
    """The neuroclip command lines of the README's ```bash blocks (continuations joined, comments dropped)."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if "neuroclip.cli" in words:  # torchrun ... -m neuroclip.cli ARGS
                words = ["neuroclip", *words[words.index("neuroclip.cli") + 1:]]
            if words and words[0] == "neuroclip":
                commands.append(shlex.join(words))
            elif "&&" in words and "neuroclip" in words:  # the quick start's `pip install ... && neuroclip demo`
                commands.append(shlex.join(words[words.index("neuroclip"):]))
    return commands


def parse_only_group():
    """The command tree with every command's work replaced by nothing: only parsing and conversion run."""
    group = typer.main.get_command(app)
    calls = []

    def neutralise(command):
        for sub in getattr(command, "commands", {}).values():
            neutralise(sub)
        if not hasattr(command, "commands"):
            command.callback = lambda *args, _name=command.name, **kwargs: calls.append((_name, kwargs))

    neutralise(group)
    return group, calls


COMMANDS = readme_commands()


def test_the_readme_documents_commands():
    assert len(COMMANDS) >= 15, COMMANDS  # the quick start, classify, zeroshot, fewshot, spikeclip, ...
    assert "neuroclip demo" in COMMANDS


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command_parses(command):
    group, calls = parse_only_group()
    arguments = normalise_list_arguments(shlex.split(command)[1:])
    group.main(args=arguments, prog_name="neuroclip", standalone_mode=False)
    assert len(calls) == 1, f"{command!r} did not reach a command"


def test_list_options_accept_every_spelling():
    group, calls = parse_only_group()
    spellings = [["--shots", "1", "2", "4"], ["--shots", "1,2,4"], ["--shots", "1", "--shots", "2", "--shots", "4"],
                 ["--shots=1,2,4"]]
    for spelling in spellings:
        arguments = ["fewshot", "--dataset", "nmnist", "--root", "x", *spelling, "--seeds", "1", "2"]
        group.main(args=normalise_list_arguments(arguments), prog_name="neuroclip", standalone_mode=False)
        assert calls[-1][1]["shots"] == [1, 2, 4] and calls[-1][1]["seeds"] == [1, 2], spelling
