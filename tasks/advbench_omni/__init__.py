"""AdvBench-Omni: the shared layout, the offline builder (decoupling split, rendering) and its inputs."""
