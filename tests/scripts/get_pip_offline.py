"""Stand-in for pip's get-pip.py bootstrap script, for ansible-test on machines
that reach PyPI but not the host ansible-test downloads get-pip.py from.

ansible-test runs this file as ``__main__`` inside a fresh virtual environment with
the arguments it would give get-pip.py (pip options and pinned packages such as
``pip==24.2``). It bootstraps pip from the standard library (ensurepip), then lets
that pip install the same packages from PyPI.
"""

import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}

subprocess.run([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"], check=True, stdout=subprocess.DEVNULL)
args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
sys.exit(subprocess.run([sys.executable, "-m", "pip", "install", *args], check=False).returncode)
