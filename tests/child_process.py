"""Running Python in a child process against the same minidl these tests import.

A child started with ``-c`` puts its working directory first on ``sys.path``, and one started with a script puts the
script's folder there: run from the checkout, either would import the source tree's ``minidl`` (which, under CI's
``pip install .``, has no compiled ``minidl._C``) instead of the installed package. ``env()`` puts the imported
package's parent folder and this test folder first on ``PYTHONPATH``, and ``CWD`` is a folder with no ``minidl`` in it.
"""
import os
import pathlib

import minidl

PACKAGE_PARENT = str(pathlib.Path(minidl.__file__).resolve().parent.parent)
TESTS = str(pathlib.Path(__file__).resolve().parent)
CWD = TESTS


def env(**extra):
    """``os.environ`` plus ``extra``, with ``PYTHONPATH`` = the imported minidl's folder, tests/, then the old one."""
    out = dict(os.environ, **extra)
    out["PYTHONPATH"] = os.pathsep.join([PACKAGE_PARENT, TESTS] + ([os.environ["PYTHONPATH"]]
                                                                   if os.environ.get("PYTHONPATH") else []))
    return out
