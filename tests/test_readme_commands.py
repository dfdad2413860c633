"""Every command in the README's command table is a real subcommand and has a CLI-level test: a test module that
calls `harness.cli.main` (or runs `python -m harness`) with an argument list starting with the command's words.

A new command added to the table without such a test fails here (README "Contributing")."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
# A module invokes the CLI when it imports `main` from harness.cli or starts `python -m harness`.
CLI_MARKER = re.compile(r'from harness\.cli import [^\n]*\bmain\b|"-m", "harness"')
WORD = re.compile(r"[a-z][a-z0-9-]*")


def readme_commands(text: str) -> list[tuple[str, ...]]:
    """The commands of the table under "## Command line": `harness tasks check / download` gives
    ("tasks", "check") and ("tasks", "download"); argument placeholders and options end a command."""
    section = text.split("## Command line", 1)[1].split("\n## ", 1)[0]
    commands: list[tuple[str, ...]] = []
    for line in section.splitlines():
        cell = re.match(r"\|\s*`harness ([^`]*)`", line)
        if not cell:
            continue
        alternatives = [part.split() for part in cell.group(1).split(" / ")]
        first = []
        for token in alternatives[0]:
            if not WORD.fullmatch(token):
                break
            first.append(token)
        commands.append(tuple(first))
        for alt in alternatives[1:]:  # `a b / c`: c replaces the last word
            commands.append((*first[:-1], alt[0]))
    return commands


def cli_argument_lists(path: Path) -> list[tuple[str, ...]]:
    """The leading string constants of every list / tuple literal in a module that invokes the CLI, except those
    only parsed (`build_parser().parse_args([...])`) or given to a decorator (`pytest.mark.parametrize`): parsing an
    argument list runs nothing."""
    source = path.read_text(encoding="utf-8")
    if not CLI_MARKER.search(source):
        return []
    tree = ast.parse(source)
    skipped: set[int] = set()
    for node in ast.walk(tree):
        roots: list[ast.AST] = []
        if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "parse_args":
            roots = [*node.args, *(k.value for k in node.keywords)]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            roots = list(node.decorator_list)
        skipped |= {id(n) for root in roots for n in ast.walk(root)}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.List, ast.Tuple)) and id(node) not in skipped:
            words = []
            for elt in node.elts:
                if not (isinstance(elt, ast.Constant) and isinstance(elt.value, str)):
                    break
                words.append(elt.value)
            if words:
                out.append(tuple(words))
    return out


def covering_tests(command: tuple[str, ...]) -> list[str]:
    hits = []
    for path in sorted(TESTS.rglob("*.py")):
        if path.name == Path(__file__).name:
            continue
        for words in cli_argument_lists(path):
            if words[:len(command)] == command:
                hits.append(str(path.relative_to(ROOT)))
                break
    return hits


def test_the_readme_table_is_parsed():
    commands = readme_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    assert ("tasks", "check") in commands and ("tasks", "download") in commands
    assert {("organism", "train"), ("organism", "eval"), ("organism", "card")} <= set(commands)
    assert ("check-defense",) in commands and ("list",) in commands and ("leaderboard", "add") in commands
    assert len(commands) >= 17 and all(commands)


def test_parser_of_a_made_up_table():
    text = ("## Command line\n\n| command | what |\n|---|---|\n| `harness frob X --y` | f |\n"
            "| `harness a b / c / d` | g |\n| `harness q {x,y}` | h |\n\n## Next\n| `harness never` | no |\n")
    assert readme_commands(text) == [("frob",), ("a", "b"), ("a", "c"), ("a", "d"), ("q",)]


def test_every_readme_command_exists_and_has_a_cli_level_test():
    from harness.cli import build_parser

    parser = build_parser()
    missing, unknown = [], []
    for command in readme_commands((ROOT / "README.md").read_text(encoding="utf-8")):
        try:  # `--help` of a real (sub)command exits 0; an unknown one exits 2
            parser.parse_args([*command, "--help"])
        except SystemExit as exc:
            if exc.code != 0:
                unknown.append(" ".join(command))
        if not covering_tests(command):
            missing.append(" ".join(command))
    assert not unknown, f"README commands the CLI does not have: {unknown}"
    assert not missing, ("README commands without a test that runs them through harness.cli.main or "
                         f"`python -m harness` (see README, Contributing): {missing}")


def test_only_argument_lists_that_run_count(tmp_path):
    module = tmp_path / "test_x.py"
    module.write_text('from harness.cli import build_parser, main\n\n'
                      '@pytest.mark.parametrize("argv", [["frob", "--x"]])\ndef test_a(argv):\n'
                      '    build_parser().parse_args(["knob", "--y"])\n'
                      '    assert main(["blob", "sub", str(1)]) == 0\n')
    assert cli_argument_lists(module) == [("blob", "sub")]
    module.write_text('main = print\nmain(["blob"])\n')  # not the harness CLI
    assert cli_argument_lists(module) == []
