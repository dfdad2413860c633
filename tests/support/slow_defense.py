"""A baseline defense that sleeps per batch, so a test can SIGKILL a run part-way through deterministically."""

import time

from defenses.base import NoDefense


class SlowNoDefense(NoDefense):
    name = "slow-none"

    def generate(self, backend, samples, config):
        time.sleep(0.4)
        return super().generate(backend, samples, config)
