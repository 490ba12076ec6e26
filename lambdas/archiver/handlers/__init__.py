"""The Lambda entry points: archive, discover and tables (the custom resource).

Importing one builds what lives as long as its execution environment (modules, classes,
validators: about 94,000 objects for the archive function) and almost no garbage (about 400
objects), yet the cyclic garbage collector would walk that growing heap dozens of times while
it loads. So it is paused while a handler module loads, and `loaded()`, the last line of each,
moves all it built out of the collector's way for good (gc.freeze) and starts it again:
`python -m bench coldstart` measures the import about 19 ms shorter, and no later collection
walks those objects again. They are handed back to the collector at exit (gc.unfreeze), so
that a process that ends (a local run, a test) still frees them: the extensions some load
(DuckDB's) report what is not freed as leaked.
"""

import atexit
import gc

gc.disable()


def loaded() -> None:
    """The handler module has loaded: keep what it built out of every later collection."""
    gc.freeze()
    gc.enable()


atexit.register(gc.unfreeze)
