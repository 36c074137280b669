"""Generates and imports the Python module of proto/model.proto at run time (nothing generated is
committed): `pb = model_pb.load()` runs `protoc --python_out=<tmpdir> -I proto proto/model.proto`."""

import importlib
import os
import subprocess
import sys
import tempfile

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_module = None


def load():
    global _module
    if _module is None:
        out = tempfile.mkdtemp(prefix='pynq_model_pb_')
        subprocess.run(['protoc', f'--python_out={out}', '-I', os.path.join(REPO_ROOT, 'proto'),
                        os.path.join(REPO_ROOT, 'proto', 'model.proto')], check=True)
        sys.path.insert(0, out)
        _module = importlib.import_module('model_pb2')
    return _module
