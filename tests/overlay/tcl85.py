"""A Tcl parser just deep enough to list the commands a script runs, and the Tcl 8.6+
commands among them (Vivado 2022.1, which build.tcl accepts, runs Tcl 8.5)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

# Commands and ensemble subcommands that Tcl 8.5 lacks (8.6; lpop: 8.7).
TCL86_COMMANDS = {"lmap", "try", "throw", "tailcall", "lpop", "coroutine", "yield"}
TCL86_SUBCOMMANDS = {("string", "cat"), ("dict", "map")}


@dataclass
class TclWord:
    """One word of a Tcl command: its text (braces stripped) and its [command] substitutions."""

    text: str
    braced: bool
    substitutions: list[list[TclWord]]


class TclSyntaxError(ValueError):
    """Unbalanced braces, brackets or quotes."""


def tcl_parse(text: str, i: int = 0, close: str = "") -> tuple[list[list[TclWord]], int]:
    """Split a Tcl script into commands of words (Tcl's dodekalogue rules, simplified).

    Comments are dropped; a [substitution] is parsed as a script of its own. Returns
    the commands and the index after ``close`` (``"]"`` inside a substitution).
    """
    commands: list[list[TclWord]] = []
    words: list[TclWord] = []
    while True:
        while i < len(text) and (text[i] in " \t" or text.startswith("\\\n", i)):
            i += 2 if text[i] == "\\" else 1
        if i >= len(text) or text[i] in "\n;" or (close and text[i] == close):
            if words:
                commands.append(words)
                words = []
            if i >= len(text):
                if close:
                    raise TclSyntaxError(f"missing {close!r}")
                return commands, i
            if text[i] == close:
                return commands, i + 1
            i += 1
            continue
        if not words and text[i] == "#":
            while i < len(text) and text[i] != "\n":
                i += 2 if text[i] == "\\" else 1
            continue
        if text.startswith("{*}", i) and i + 3 < len(text) and text[i + 3] not in " \t\n;":
            i += 3  # argument expansion: the word that follows is an ordinary word
        word, i = _tcl_word(text, i, close)
        words.append(word)


def _tcl_word(text: str, i: int, close: str) -> tuple[TclWord, int]:
    if text[i] == "{":
        depth, start = 1, i + 1
        i += 1
        while depth:
            if i >= len(text):
                raise TclSyntaxError("missing '}'")
            if text[i] == "\\":
                i += 1
            elif text[i] in "{}":
                depth += 1 if text[i] == "{" else -1
            i += 1
        return TclWord(text[start : i - 1], True, []), i
    quoted = text[i] == '"'
    start = i + quoted
    i = start
    substitutions = []
    while True:
        if i >= len(text):
            if quoted:
                raise TclSyntaxError("missing '\"'")
            break
        char = text[i]
        if quoted and char == '"':
            return TclWord(text[start:i], False, substitutions), i + 1
        if not quoted and (char in " \t\n;" or (close and char == close)):
            break
        if char == "\\":
            i += 2
        elif char == "[":
            script, i = tcl_parse(text, i + 1, "]")
            substitutions.extend(script)
        else:
            i += 1
    return TclWord(text[start:i], False, substitutions), i


def tcl_walk(commands: list[list[TclWord]]) -> Iterator[list[TclWord]]:
    """Every command, also those in substitutions and in braced words (bodies, or data:
    a braced list is read as a script too, which can only err towards rejecting)."""
    for words in commands:
        yield words
        for word in words:
            yield from tcl_walk(word.substitutions)
            if word.braced:
                try:
                    nested, _ = tcl_parse(word.text)
                except TclSyntaxError:
                    continue  # data with unbalanced quotes, not a script
                yield from tcl_walk(nested)


def tcl86_uses(script: str) -> list[str]:
    found = []
    for words in tcl_walk(tcl_parse(script)[0]):
        names = [w.text for w in words[:2]]
        if names[0] in TCL86_COMMANDS:
            found.append(names[0])
        elif tuple(names) in TCL86_SUBCOMMANDS:
            found.append(" ".join(names))
    return found
