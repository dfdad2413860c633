"""A baseline defense whose process dies (os._exit) on its first batch, once per marker file: a lost worker."""

import os
from pathlib import Path

from defenses.base import NoDefense


class DieOnceDefense(NoDefense):
    name = "die-once"

    def generate(self, backend, samples, config):
        marker = Path(os.environ["HARNESS_TEST_DIE_MARKER"])
        try:
            marker.open("x").close()  # only the first caller gets here without FileExistsError
        except FileExistsError:
            return super().generate(backend, samples, config)
        os._exit(1)
