import pathlib
import sys

import matplotlib

matplotlib.use("Agg")  # unit tests draw off-screen

# tools/ first on the path, as when make runs `python tools/X.py` (a script's own folder comes first), so a
# test imports a tool by its name (`import notebooks as nbtools`) and the tool's own imports resolve alike.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tools"))
