"""native_merge(): where Python frames go among native ones (no root
needed). Python and native frames are given innermost first, as BPF and
the unwinder find them; NAME* marks an eval-loop activation's entry frame
and @ an activation of the eval loop on the native stack."""
import subprocess

import pytest

from conftest import tool_path


def merge(py, native, cap=256):
    out = subprocess.run([tool_path("native_merge_check"), str(cap)] + py.split() + ["--"] +
                         native.split(), capture_output=True, text=True, check=True).stdout
    return out.strip()


@pytest.mark.parametrize("py,native,want", [
    # 3.11+: one activation runs several frames; C between activations
    ("py_inner* py_outer module*", "c_spin @ glue c_call_back @ PyEval_EvalCode main",
     "main;PyEval_EvalCode;module;py_outer;c_call_back;glue;py_inner;c_spin"),
    # 3.8-3.10: every frame its own activation
    ("c* b* a*", "leaf @ call @ call @ main",
     "main;a;call;b;call;c;leaf"),
    # sampled in the eval loop itself: no C frame above Python
    ("f* module*", "@ @ main", "main;module;f"),
    # the copied stack ended early: the outer Python frames at the root, in order
    ("f* g* module*", "c @ glue", "module;g;glue;f;c"),
    # more activations than entry frames (a frame being pushed): nothing invented
    ("f*", "@ x @ main", "main;x;f"),
    # no native frames at all
    ("f g* module*", "", "module;g;f"),
])
def test_merge(py, native, want):
    assert merge(py, native) == want


def test_cap_keeps_the_innermost_frames():
    assert merge("f* module*", "c @ glue @ main", cap=3) == "glue;f;c truncated"
