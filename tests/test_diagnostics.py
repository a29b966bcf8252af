"""Diagnostics as a product: golden renderings, every code documented, docs/diagnostics.md in sync."""
import re

from helpers import ROOT, check
from nnc.codes import CODES, markdown
from nnc.diagnostics import render_text

GOLDEN_BROADCAST = """\
error[E0204]: cannot broadcast f32[N, 16] with f32[N, 10]
 --> t.nn:5:16
  |
5 |   output y = a + b
  |              - ^ - f32[N, 10]
  |              | |
  |              | axis 1: 16 vs 10
  |              f32[N, 16]
  |
  = hint: sizes must be equal or 1 along every axis, counted from the right

1 error found"""

GOLDEN_UNBOUND = """\
error[E0101]: unbound name `hiden`
 --> t.nn:4:19
  |
4 |   output y = relu(hiden)
  |                   ^^^^^ not bound at this point
  |
  = hint: did you mean `hidden`?

1 error found"""


def render(src: str) -> str:
    r = check(src)
    return render_text(r.diagnostics, r.sources)


def test_golden_broadcast_rendering():
    src = "model m {\n  input a: f32[N, 16]\n  input b: f32[N, 10]\n\n  output y = a + b\n}\n"
    assert render(src) == GOLDEN_BROADCAST


def test_golden_unbound_rendering_with_suggestion():
    src = "model m {\n  input x: f32[N, 16]\n  hidden = x -> dense(32)\n  output y = relu(hiden)\n}\n"
    out = render(src)
    assert GOLDEN_UNBOUND.split("\n\n1 error")[0] in out
    assert out.endswith("1 error and 1 warning found")  # `hidden` itself is then never used


def test_every_code_used_in_the_source_is_documented():
    used = set()
    for path in (ROOT / "nnc").rglob("*.py"):
        used |= set(re.findall(r'"([EW]\d{4})"', path.read_text()))
    assert used <= set(CODES), sorted(used - set(CODES))


def test_docs_diagnostics_md_is_generated_from_the_table():
    assert (ROOT / "docs" / "diagnostics.md").read_text() == markdown()
