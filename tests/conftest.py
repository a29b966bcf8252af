import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# The oracle checks every result against the IR's dtype and shape, and the full verifier runs after every
# pass of every backend's pipeline, in every test (and in the nnc processes the tests start).
os.environ.setdefault("NNC_STRICT", "1")
os.environ.setdefault("NNC_VERIFY_PASSES", "1")
