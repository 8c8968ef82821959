"""Quick start: a tiny synthetic panel through ferrofactor's kernels.

Run with ``python examples/quickstart.py`` after ``pip install .``.
"""

import ferrofactor as ff

print(f"ferrofactor {ff.__version__} running on {ff.get_num_threads()} threads")
