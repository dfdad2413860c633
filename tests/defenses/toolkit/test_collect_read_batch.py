"""read_batch: the states of an already prepared batch, equal to the backend's own read-outs."""

import torch

from defenses.toolkit.collect import collect, read_batch


def test_read_batch_matches_hidden_states_and_collect(tiny_backend):
    from defenses.contract import CONTRACT_TEXTS
    from harness.records import Sample, user_message

    backend = tiny_backend("tiny-text")
    samples = [Sample(id=f"r{i}", task="t", config="c", label="benign", messages=(user_message(t),))
               for i, t in enumerate(CONTRACT_TEXTS)]
    batch = backend.prepare(samples)
    for position in ("last", "mean"):
        got = read_batch(backend, batch, [0, 1], position=position)
        ref = backend.hidden_states(batch, [0, 1], positions=position)
        for layer in (0, 1):
            torch.testing.assert_close(got[layer], ref[layer], rtol=0, atol=1e-6)
    acts = collect(backend, samples, [1], batch_size=2)
    torch.testing.assert_close(acts.states[1], backend.hidden_states(batch, [1])[1], rtol=0, atol=1e-5)
