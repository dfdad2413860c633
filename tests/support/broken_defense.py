"""A defense with a real bug for the contract checks to catch: it leaves a forward hook on the model after every
`generate` (the `hooks-removed` and `hooks-removed-on-error` checks fail)."""

from defenses.base import NoDefense


class LeakyHookDefense(NoDefense):
    name = "leaky-hook"

    def generate(self, backend, samples, config):
        backend.decoder_layers()[0].register_forward_hook(lambda module, args, output: None)
        return super().generate(backend, samples, config)
